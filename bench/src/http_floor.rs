//! HTTP alone: an actix-web server like the ingress's (same worker count, same body limit)
//! whose POST handler reads the body and answers the ingress's 200, doing nothing else. Driven
//! by the same client with the same signed bodies, it measures what the webhook's HTTP
//! exchange costs on this machine (client and server share the cores), apart from the
//! ingress's own work (signature, parsing, publishing).

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};

pub struct HttpFloor {
    pub url: String,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn answer(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"events": 1, "statuses": 0, "recorded": 0}))
}

impl HttpFloor {
    /// `workers`: 0 for actix's default (one per CPU), as the ingress.
    pub fn start(workers: usize) -> anyhow::Result<HttpFloor> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut server = HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::new(whatsapp_ingress::MAX_BODY_BYTES))
                .route(
                    "/webhooks/whatsapp/{integration_id}",
                    web::post().to(answer),
                )
        });
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.disable_signals().run();
        let handle = server.handle();
        Ok(HttpFloor {
            url: format!("http://{addr}/webhooks/whatsapp/1"),
            handle,
            server: tokio::spawn(server),
        })
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
    }
}
