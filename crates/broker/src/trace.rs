//! W3C trace context (or whatever the global propagator speaks) carried in AMQP headers, so
//! that one trace follows a message through every service. The propagator is a no-op until
//! the process sets one (`global::set_text_map_propagator`), which the telemetry crate does.

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes propagation fields into a lapin header table as long strings.
pub struct HeaderInjector<'a>(pub &'a mut FieldTable);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagator keys are short ASCII names; skip rather than panic on anything odd.
        if let Ok(key) = ShortString::try_new(key) {
            self.0
                .insert(key, AMQPValue::LongString(LongString::from(value)));
        }
    }
}

/// Reads propagation fields from a lapin header table (string-valued entries only).
pub struct HeaderExtractor<'a>(pub &'a FieldTable);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        header_str(self.0, key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(ShortString::as_str).collect()
    }
}

/// A string-valued header (long or short string), if present.
pub fn header_str<'a>(headers: &'a FieldTable, key: &str) -> Option<&'a str> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(value) => std::str::from_utf8(value.as_bytes()).ok(),
        AMQPValue::ShortString(value) => Some(value.as_str()),
        _ => None,
    }
}

/// The context to send along: the current `tracing` span's OpenTelemetry context when a
/// tracing-opentelemetry layer is installed, else the ambient OpenTelemetry context.
pub fn current_context() -> Context {
    let from_span = tracing::Span::current().context();
    if from_span.span().span_context().is_valid() {
        from_span
    } else {
        Context::current()
    }
}

/// Adds the propagation fields of `cx` to `headers`.
pub fn inject(cx: &Context, headers: &mut FieldTable) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut HeaderInjector(headers));
    });
}

/// The remote parent context carried by `headers` (empty when there is none).
pub fn extract(headers: &FieldTable) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extractor_reads_string_headers_and_ignores_others() {
        let mut headers = FieldTable::default();
        HeaderInjector(&mut headers).set("traceparent", "00-abc".into());
        headers.insert("count".into(), AMQPValue::LongLongInt(3));
        let extractor = HeaderExtractor(&headers);
        assert_eq!(extractor.get("traceparent"), Some("00-abc"));
        assert_eq!(extractor.get("count"), None);
        assert_eq!(extractor.get("missing"), None);
        let mut keys = extractor.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["count", "traceparent"]);
    }
}
