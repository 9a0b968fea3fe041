//! Prometheus metrics: one process-wide recorder (the `metrics` facade), rendered at
//! `/metrics` by every service. Services record with `metrics::counter!` / `histogram!`; the
//! names are listed in docs/operations.md.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process (tests start many services in one process) and
/// returns its handle; `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// The `/metrics` route: Prometheus' text format.
pub async fn render() -> HttpResponse {
    match install() {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(handle.render()),
        None => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// Middleware for actix apps: counts requests by route pattern, method and status, and times
/// them (`http_requests_total`, `http_request_duration_seconds`). Route patterns, not paths,
/// keep the label set bounded.
pub async fn track_http(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let response = next.call(req).await?;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_what_was_recorded() {
        let handle = super::install().expect("recorder");
        metrics::counter!("service_kit_test_total", "kind" => "a").increment(2);
        assert!(handle
            .render()
            .contains("service_kit_test_total{kind=\"a\"} 2"));
        // Installing again returns the same handle.
        assert!(super::install().is_some());
    }
}
