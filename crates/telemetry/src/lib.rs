//! Logs and traces for every service, set up once per process.
//!
//! - Logs: JSON lines on stdout (`LOG_FORMAT=pretty` or `text` for humans), filtered by
//!   `RUST_LOG` (default `info`).
//! - Traces: a tracing-opentelemetry layer over an SDK tracer provider. With
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are batched to that collector over OTLP
//!   HTTP/protobuf; without it spans are not exported but still carry trace ids, so trace
//!   context is propagated between services either way. Which spans become OpenTelemetry spans
//!   is filtered separately by `OTEL_TRACES_FILTER` (default `info`), so that a quiet
//!   `RUST_LOG=warn` does not break propagation.
//! - The global propagator is W3C trace context (`traceparent`), used for HTTP and AMQP
//!   headers; see [`inject_current_context`] and [`set_parent_from`].

pub mod http;
mod propagation;

use std::sync::{Mutex, PoisonError};

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use thiserror::Error;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

pub use opentelemetry::propagation::{Extractor, Injector};
pub use propagation::{
    current_trace_id, inject_context_into, inject_current_context, set_parent_from,
};

/// Set once the global subscriber is installed; later calls do nothing.
static INSTALLED: Mutex<bool> = Mutex::new(false);

const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_FILTER_VAR: &str = "OTEL_TRACES_FILTER";

#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error("RUST_LOG or OTEL_TRACES_FILTER is not a valid filter: {0}")]
    Filter(String),
    #[error("LOG_FORMAT must be json, pretty or text (got {0:?})")]
    LogFormat(String),
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("another global tracing subscriber is already installed: {0}")]
    Subscriber(String),
}

/// Keeps the tracer provider of [`init`]; dropping it flushes pending spans and shuts the
/// exporter down. Hold it in `main` until the end. The guard of a repeated call owns nothing.
#[must_use = "dropping the guard shuts tracing down"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether this guard owns the process's tracer provider (false for repeated calls).
    pub fn is_active(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Errors here mean the collector is unreachable at exit; nothing left to do.
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
    }
}

/// Sets up logs, traces and the propagator for `service_name`. Safe to call more than once
/// in a process (tests run several services together): only the first call installs
/// anything, later ones return an inactive guard.
///
/// Also installs ring as the rustls provider, which the OTLP HTTP client needs.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    crypto::install_tls_crypto_provider();
    global::set_text_map_propagator(TraceContextPropagator::new());
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if *installed {
        return Ok(TelemetryGuard { provider: None });
    }

    let log_filter = env_filter("RUST_LOG", "info")?;
    let log_layer = log_layer(std::env::var("LOG_FORMAT").ok().as_deref())?;
    let provider = tracer_provider(service_name, std::env::var(OTLP_ENDPOINT_VAR).ok())?;
    let trace_filter = env_filter(TRACES_FILTER_VAR, "info")?;
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service_name.to_owned()))
        .with_filter(trace_filter)
        .boxed();

    tracing_subscriber::registry()
        .with(vec![log_layer.with_filter(log_filter).boxed(), trace_layer])
        .try_init()
        .map_err(|error| TelemetryError::Subscriber(error.to_string()))?;
    global::set_tracer_provider(provider.clone());
    *installed = true;
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}

/// For test harnesses: human-readable logs captured by the test runner, `RUST_LOG` or `warn`,
/// spans with trace ids but no exporter, the propagator set. Idempotent; never fails (a
/// subscriber installed by someone else is left alone).
pub fn init_for_tests() {
    crypto::install_tls_crypto_provider();
    global::set_text_map_propagator(TraceContextPropagator::new());
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if *installed {
        return;
    }
    let log_filter = env_filter("RUST_LOG", "warn").unwrap_or_else(|_| EnvFilter::new("warn"));
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("test").build())
        .build();
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("test"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
        .boxed();
    let log_layer = tracing_subscriber::fmt::layer()
        .compact()
        .with_test_writer()
        .with_filter(log_filter)
        .boxed();
    if tracing_subscriber::registry()
        .with(vec![log_layer, trace_layer])
        .try_init()
        .is_ok()
    {
        global::set_tracer_provider(provider);
        *installed = true;
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn log_layer(format: Option<&str>) -> Result<BoxedLayer, TelemetryError> {
    let base = tracing_subscriber::fmt::layer();
    let layer = match format.map(str::trim).unwrap_or("json") {
        "" | "json" => json_layer(std::io::stdout).boxed(),
        "pretty" => base.pretty().boxed(),
        "text" | "compact" => base.compact().boxed(),
        other => return Err(TelemetryError::LogFormat(other.to_owned())),
    };
    Ok(layer)
}

/// One JSON object per line: the event's fields flattened, its innermost span's fields under
/// `span`.
fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .fmt_fields(AppendingJsonFields::default())
        .with_writer(writer)
}

/// The JSON log layer's span fields, as tracing-subscriber's `JsonFields` writes them, except
/// that a field recorded later (`span.record`: the HTTP root span's status code and trace id,
/// three per request) is appended to the object instead of the whole object being parsed and
/// written again. That parse-and-rewrite was 19% of the API gateway's instructions
/// (callgrind, docs/performance.md). A field recorded twice appears twice; a JSON reader keeps
/// the last, and the log line's `span` object is read that way.
#[derive(Debug, Default)]
pub struct AppendingJsonFields(tracing_subscriber::fmt::format::JsonFields);

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for AppendingJsonFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        self.0.format_fields(writer, fields)
    }

    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut added = String::new();
        self.0.format_fields(
            tracing_subscriber::fmt::format::Writer::new(&mut added),
            fields,
        )?;
        append_json_object(&mut current.fields, &added);
        Ok(())
    }
}

/// `current` and `added` are JSON objects (or `current` is empty): `added`'s members go at the
/// end of `current`.
fn append_json_object(current: &mut String, added: &str) {
    let members = added
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or("");
    if members.is_empty() {
        return;
    }
    match current.strip_suffix('}') {
        Some(open) if open.len() > 1 => {
            current.truncate(open.len());
            current.push(',');
        }
        _ => {
            current.clear();
            current.push('{');
        }
    }
    current.push_str(members);
    current.push('}');
}

fn env_filter(var: &str, default: &str) -> Result<EnvFilter, TelemetryError> {
    let directives = std::env::var(var)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    EnvFilter::builder()
        .parse(directives)
        .map_err(|error| TelemetryError::Filter(error.to_string()))
}

fn tracer_provider(
    service_name: &str,
    otlp_endpoint: Option<String>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let builder = SdkTracerProvider::builder().with_resource(
        Resource::builder()
            .with_service_name(service_name.to_owned())
            .build(),
    );
    if otlp_endpoint.is_none_or(|value| value.trim().is_empty()) {
        return Ok(builder.build());
    }
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and the other OTEL_EXPORTER_OTLP_*
    // variables) itself and appends /v1/traces. Its HTTP client must be reqwest's blocking
    // one (workspace feature `reqwest-blocking-client`): the batch processor exports from its
    // own thread, where the async client panics for want of a Tokio reactor.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?;
    Ok(builder.with_batch_exporter(exporter).build())
}

#[cfg(test)]
mod tests {
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_span_field_recorded_later_reaches_the_log_line_as_json() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "HTTP request",
                http.route = "/session",
                http.status_code = tracing::field::Empty,
                trace_id = tracing::field::Empty,
            );
            span.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
            span.record("http.status_code", 200);
            span.in_scope(|| tracing::info!(answered = true, "done"));
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["answered"], true, "{text}");
        assert_eq!(line["span"]["http.route"], "/session", "{text}");
        assert_eq!(line["span"]["http.status_code"], 200, "{text}");
        assert_eq!(
            line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
            "{text}"
        );
    }

    #[test]
    fn recorded_span_fields_are_appended_as_json_members() {
        let mut fields = String::new();
        super::append_json_object(&mut fields, r#"{"a":1}"#);
        assert_eq!(fields, r#"{"a":1}"#);
        super::append_json_object(&mut fields, r#"{"b":"x","c":true}"#);
        assert_eq!(fields, r#"{"a":1,"b":"x","c":true}"#);
        super::append_json_object(&mut fields, "{}");
        assert_eq!(fields, r#"{"a":1,"b":"x","c":true}"#);
        let mut empty_object = String::from("{}");
        super::append_json_object(&mut empty_object, r#"{"d":2}"#);
        assert_eq!(empty_object, r#"{"d":2}"#);
        // A field recorded again: a JSON reader keeps the last value.
        super::append_json_object(&mut fields, r#"{"a":2}"#);
        let read: serde_json::Value = serde_json::from_str(&fields).unwrap();
        assert_eq!(read["a"], 2);
    }

    use super::*;

    #[test]
    fn log_formats_are_validated() {
        for format in [
            None,
            Some("json"),
            Some(""),
            Some("pretty"),
            Some("text"),
            Some("compact"),
        ] {
            assert!(log_layer(format).is_ok(), "{format:?}");
        }
        let error = log_layer(Some("xml")).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("LOG_FORMAT must be json, pretty or text (got \"xml\")")
        );
    }

    #[test]
    fn filters_use_the_default_when_unset_and_reject_garbage() {
        let unset = "TELEMETRY_TEST_FILTER_VARIABLE_NEVER_SET";
        let filter = env_filter(unset, "warn,store=debug").unwrap();
        assert_eq!(filter.to_string(), "store=debug,warn");
        assert!(matches!(
            env_filter(unset, "info,store=[not a span"),
            Err(TelemetryError::Filter(_))
        ));
    }

    #[test]
    fn provider_without_endpoint_builds_without_exporter() {
        assert!(tracer_provider("svc", None).is_ok());
        assert!(tracer_provider("svc", Some("  ".into())).is_ok());
    }
}
