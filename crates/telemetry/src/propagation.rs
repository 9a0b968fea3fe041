//! W3C trace context across process boundaries (HTTP and AMQP headers), through the global
//! propagator that [`crate::init`] sets.

use std::collections::HashMap;

use opentelemetry::global;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The current span's trace context as headers (`traceparent`, and `tracestate` when set).
/// Empty when the current span has no valid context (e.g. telemetry not initialised).
pub fn inject_current_context() -> HashMap<String, String> {
    let mut headers = HashMap::new();
    inject_context_into(&mut headers);
    headers
}

/// Writes the current span's trace context into any carrier (an AMQP field table adapter,
/// HTTP headers).
pub fn inject_context_into(carrier: &mut dyn Injector) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, carrier));
}

/// Makes `span` a child of the trace context found in `carrier` (do this before entering the
/// span). Returns false when the carrier holds no valid context, leaving `span` a root.
pub fn set_parent_from(span: &tracing::Span, carrier: &dyn Extractor) -> bool {
    let parent = global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    if !parent.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(parent).is_ok()
}

/// The current trace id in hex, for error responses and correlation in logs.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// `span`'s trace id in hex, when it has a valid trace context.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
