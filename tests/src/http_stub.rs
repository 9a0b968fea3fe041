//! A tiny HTTP server for flows' `http_request` components: every request is answered with
//! one fixed JSON body after a fixed delay. Counts the requests it received.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct HttpStub {
    pub url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpStub {
    /// Answers `200` with `body` (JSON text) after `delay`.
    pub async fn start(body: &str, delay: Duration) -> HttpStub {
        Self::start_sequence(&[body], delay).await
    }

    /// Answers the n-th request with `bodies[n]`, and every request after the last with the
    /// last body.
    pub async fn start_sequence(bodies: &[&str], delay: Duration) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let bodies: Arc<Vec<String>> = Arc::new(bodies.iter().map(|b| (*b).to_owned()).collect());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let bodies = bodies.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    // Read the request head; the flows here send no body.
                    let mut head = Vec::new();
                    let mut buf = [0_u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let body = bodies
                        .get(n)
                        .or_else(|| bodies.last())
                        .cloned()
                        .unwrap_or_default();
                    tokio::time::sleep(delay).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        HttpStub {
            url,
            requests,
            task,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}
