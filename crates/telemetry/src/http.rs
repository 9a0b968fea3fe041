//! The root span of every HTTP request our services serve, without secrets.
//!
//! tracing-actix-web's default root span records `http.target` with the query string, and
//! Meta's verification handshake carries the integration's verify token in the query
//! (`hub.verify_token=...`): every log line of that request, and the exported trace, would
//! hold it. This builder records the path and the query's parameter names only, and otherwise
//! the same fields as the default (docs/security.md, "Secrets never logged").

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use opentelemetry::propagation::Extractor;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// Use as `TracingLogger::<RedactedRootSpan>::new()`.
pub struct RedactedRootSpan;

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let user_agent = request
            .headers()
            .get("User-Agent")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let method = request.method().as_str().to_owned();
        let connection = request.connection_info();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.flavor = ?request.version(),
            http.scheme = %connection.scheme(),
            http.host = %connection.host(),
            http.client_ip = %connection.realip_remote_addr().unwrap_or(""),
            http.user_agent = %user_agent,
            http.target = %redacted_target(request.path(), request.query_string()),
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        drop(connection);
        crate::propagation::set_parent_from(&span, &Headers(request.headers()));
        if let Some(trace_id) = crate::propagation::trace_id_of(&span) {
            span.record("trace_id", trace_id.as_str());
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The path, and the query's parameter names with their values redacted.
pub fn redacted_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let names: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            // Names are ours or Meta's; anything else is cut short and kept printable.
            let name: String = name
                .chars()
                .take(40)
                .filter(|c| c.is_ascii_alphanumeric() || "._-[]".contains(*c))
                .collect();
            format!("{name}=[redacted]")
        })
        .collect();
    format!("{path}?{}", names.join("&"))
}

struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(actix_web::http::header::HeaderName::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted() {
        assert_eq!(redacted_target("/health", ""), "/health");
        assert_eq!(
            redacted_target(
                "/webhooks/whatsapp/2",
                "hub.mode=subscribe&hub.verify_token=secret-1&hub.challenge=7"
            ),
            "/webhooks/whatsapp/2?hub.mode=[redacted]&hub.verify_token=[redacted]&hub.challenge=[redacted]"
        );
        assert_eq!(
            redacted_target("/x", "flag&a%20b=c"),
            "/x?flag=[redacted]&a20b=[redacted]"
        );
    }
}
