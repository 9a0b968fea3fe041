//! Performs the `http_request` calls of flows: the one place a flow reaches the network.
//! Private and loopback addresses are refused after DNS resolution (unless the deployment
//! allows them), the resolved address is pinned for the request (no DNS rebinding), redirects
//! are not followed, and the answer is read up to a size bound.

use std::net::SocketAddr;
use std::time::Duration;

use flow::engine::{HttpCall, HttpOutcome};
use flow::HttpMethod;
use futures_util::future::BoxFuture;

/// Performs a flow's HTTP call. A trait object in [`crate::TurnContext`] so that the test
/// runner answers calls from a scenario's stubs through the same turn code.
pub trait PerformHttp: Send + Sync {
    fn perform<'a>(&'a self, call: &'a HttpCall) -> BoxFuture<'a, HttpOutcome>;
}

impl PerformHttp for FlowHttp {
    fn perform<'a>(&'a self, call: &'a HttpCall) -> BoxFuture<'a, HttpOutcome> {
        Box::pin(FlowHttp::perform(self, call))
    }
}

#[derive(Clone)]
pub struct FlowHttp {
    pub allow_private_network: bool,
    pub max_response_bytes: usize,
}

impl FlowHttp {
    pub async fn perform(&self, call: &HttpCall) -> HttpOutcome {
        match self.try_perform(call).await {
            Ok(outcome) => outcome,
            Err(reason) => HttpOutcome::Failed { reason },
        }
    }

    async fn try_perform(&self, call: &HttpCall) -> Result<HttpOutcome, String> {
        let url = reqwest::Url::parse(&call.url).map_err(|e| format!("invalid URL: {e}"))?;
        let host = url.host_str().ok_or("the URL has no host")?.to_owned();
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let timeout = Duration::from_millis(u64::from(call.timeout_ms.max(1)));
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| format!("resolving {host} timed out"))?
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
        let addr = addrs
            .iter()
            .copied()
            .find(|addr| self.allow_private_network || !flow::url::is_forbidden_ip(addr.ip()))
            .ok_or_else(|| format!("{host} resolves only to private or loopback addresses"))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .resolve(&host, addr)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let method = match call.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut request = client.request(method, url);
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let mut response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(format!(
                    "the answer exceeds {} bytes",
                    self.max_response_bytes
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpOutcome::Response {
            status,
            body_json: serde_json::from_slice(&body).ok(),
        })
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "the request timed out".into()
    } else if err.is_connect() {
        "the connection failed".into()
    } else {
        format!("the request failed: {err}")
    }
}
