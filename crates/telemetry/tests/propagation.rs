#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashMap;

use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

fn traceparent_parts(value: &str) -> Vec<String> {
    value.split('-').map(str::to_owned).collect()
}

#[test]
fn injects_a_traceparent_for_a_span_with_a_context() {
    telemetry::init_for_tests();
    telemetry::init_for_tests();

    let span = tracing::info_span!("publish");
    let _entered = span.enter();
    let headers = telemetry::inject_current_context();
    let traceparent = headers.get("traceparent").expect("traceparent header");
    let parts = traceparent_parts(traceparent);
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1].len(), 32);
    assert_ne!(parts[1], "0".repeat(32));
    assert_eq!(parts[2].len(), 16);
    assert_eq!(parts[3], "01", "sampled");

    let context = span.context();
    let span_ref = context.span();
    let own = span_ref.span_context();
    assert_eq!(parts[1], own.trace_id().to_string());
    assert_eq!(parts[2], own.span_id().to_string());
    assert_eq!(
        telemetry::current_trace_id().as_deref(),
        Some(parts[1].as_str())
    );
}

#[test]
fn a_consumer_span_continues_the_trace_from_headers() {
    telemetry::init_for_tests();
    let remote_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut headers = HashMap::new();
    headers.insert(
        "traceparent".to_owned(),
        format!("00-{remote_trace}-00f067aa0ba902b7-01"),
    );

    let span = tracing::info_span!("consume");
    assert!(telemetry::set_parent_from(&span, &headers));
    let _entered = span.enter();
    assert_eq!(telemetry::current_trace_id().as_deref(), Some(remote_trace));
    let outgoing = telemetry::inject_current_context();
    let parts = traceparent_parts(&outgoing["traceparent"]);
    assert_eq!(parts[1], remote_trace);
    assert_ne!(parts[2], "00f067aa0ba902b7", "a new span id for the child");
}

#[test]
fn missing_or_invalid_headers_leave_a_root_span() {
    telemetry::init_for_tests();
    let span = tracing::info_span!("consume");
    assert!(!telemetry::set_parent_from(
        &span,
        &HashMap::<String, String>::new()
    ));
    let mut garbage = HashMap::new();
    garbage.insert("traceparent".to_owned(), "00-zz-yy-01".to_owned());
    assert!(!telemetry::set_parent_from(&span, &garbage));
    let _entered = span.enter();
    assert!(telemetry::current_trace_id().is_some());
}

#[test]
fn no_span_means_no_headers() {
    telemetry::init_for_tests();
    assert!(telemetry::inject_current_context().is_empty());
    assert_eq!(telemetry::current_trace_id(), None);
}
