#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Spans reach an OTLP/HTTP collector, from inside a Tokio runtime as in the services. Own test
//! binary with a single test: it sets OTEL_EXPORTER_OTLP_ENDPOINT for the whole process.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

struct Request {
    request_line: String,
    content_type: String,
    body: Vec<u8>,
}

/// A minimal collector: answers every request with 200 and reports what it received.
fn fake_collector() -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            let _ = sender.send(Request {
                request_line: request_line.trim_end().to_owned(),
                content_type,
                body,
            });
        }
    });
    (address, receiver)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn spans_are_exported_over_otlp_http_on_guard_drop() {
    let (endpoint, received) = fake_collector();
    // Only test in this binary, so no other thread reads the environment concurrently.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);

    let guard = telemetry::init("telemetry-export-test").expect("init");
    assert!(guard.is_active());
    {
        let span = tracing::info_span!("exported_operation");
        let _entered = span.enter();
        tracing::info!("inside the exported span");
    }
    drop(guard);

    let request = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the collector received an export");
    assert_eq!(request.request_line, "POST /v1/traces HTTP/1.1");
    assert_eq!(request.content_type, "application/x-protobuf");
    assert!(
        contains(&request.body, b"telemetry-export-test"),
        "service name in resource"
    );
    assert!(contains(&request.body, b"exported_operation"), "span name");
}
