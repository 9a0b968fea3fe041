#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Own test binary (own process): `init` installs process-wide state.

#[test]
fn init_twice_does_not_panic_and_only_the_first_guard_is_active() {
    let first = telemetry::init("service-a").expect("first init");
    assert!(first.is_active());
    let second = telemetry::init("service-b").expect("second init");
    assert!(!second.is_active());
    telemetry::init_for_tests();

    // The first call installed the tracing layer: spans carry trace ids.
    let span = tracing::info_span!("request");
    let _entered = span.enter();
    let trace_id = telemetry::current_trace_id().expect("trace id");
    assert_eq!(trace_id.len(), 32);
    tracing::info!(trace_id, "log line from a test");
    drop(second);
    drop(first);
}
