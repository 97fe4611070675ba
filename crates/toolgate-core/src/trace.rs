//! Trace context of one call: the OpenTelemetry span of an MCP request ([`CallTrace`]), which
//! sources continue with one client span per backend request ([`ClientSpan`]) and propagate
//! as W3C trace context (`traceparent`, `tracestate`).
//!
//! Uses the OpenTelemetry API only. The binary builds a [`Tracing`] (its SDK tracer, sampler
//! and OTLP exporter: `toolgate::telemetry`) and hands it to the gateway; without one no span
//! is ever created and a call's context carries `None`, so traces off cost one branch per
//! request and per backend request. Owns the W3C format (parsing what a client sent, writing
//! what a backend receives); does not own sampling or export.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{
    Span as _, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue};

pub use opentelemetry::KeyValue as Attribute;
pub use opentelemetry::trace::SpanContext;

/// The tracer spans are made with (installed by the binary when traces are on). Cheap to
/// clone.
#[derive(Clone)]
pub struct Tracing(Arc<BoxedTracer>);

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracing")
    }
}

impl Tracing {
    /// Spans made with `tracer`.
    pub fn new(tracer: BoxedTracer) -> Self {
        Tracing(Arc::new(tracer))
    }

    /// Starts the server span of one MCP request, child of `parent` (the client's trace
    /// context) when there is one, else the root of a new trace.
    pub fn request(
        &self,
        name: impl Into<Cow<'static, str>>,
        parent: Option<SpanContext>,
        attributes: Vec<KeyValue>,
    ) -> CallTrace {
        let parent_cx = match parent {
            Some(sc) => Context::new().with_remote_span_context(sc),
            None => Context::new(),
        };
        let span = self
            .0
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&*self.0, &parent_cx);
        let context = span.span_context().clone();
        CallTrace(Arc::new(Inner {
            tracing: self.clone(),
            cx: parent_cx.with_span(span),
            context,
            backend_requests: AtomicU32::new(0),
        }))
    }
}

/// The span of one MCP request, shared by everything the call does (cheap to clone). The
/// span ends with [`CallTrace::end`], or when the last clone is dropped (a call whose client
/// went away).
#[derive(Clone)]
pub struct CallTrace(Arc<Inner>);

struct Inner {
    tracing: Tracing,
    /// The context holding the request span: the parent of the client spans.
    cx: Context,
    context: SpanContext,
    /// Backend requests made so far for this call (retries and resends included).
    backend_requests: AtomicU32,
}

impl std::fmt::Debug for CallTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallTrace({})", self.0.context.trace_id())
    }
}

impl CallTrace {
    /// Adds attributes to the request span.
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.0.cx.span().set_attributes(attributes);
    }

    /// Marks the request span failed with `error_type` (a bounded label: an error kind or a
    /// JSON-RPC error's name, never a message).
    pub fn fail(&self, error_type: &'static str) {
        let span = self.0.cx.span();
        span.set_attribute(KeyValue::new("error.type", error_type));
        span.set_status(Status::error(error_type));
    }

    /// Ends the request span now.
    pub fn end(&self) {
        self.0.cx.span().end();
    }

    /// The request span's trace id, as 32 lower-case hex digits.
    pub fn trace_id(&self) -> String {
        self.0.context.trace_id().to_string()
    }

    /// Whether the request span is sampled (recorded and exported).
    pub fn is_sampled(&self) -> bool {
        self.0.context.is_sampled()
    }

    /// The request span's own `traceparent`.
    pub fn traceparent(&self) -> String {
        traceparent(&self.0.context)
    }

    /// Starts a client span for one backend request of this call (`name` per the HTTP or MCP
    /// conventions). Each one is numbered: the first request of a call is attempt 1, a retry
    /// or a resend the next.
    pub fn client(
        &self,
        name: impl Into<Cow<'static, str>>,
        attributes: Vec<KeyValue>,
    ) -> ClientSpan {
        let attempt = self.0.backend_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let mut attributes = attributes;
        if attempt > 1 {
            // OpenTelemetry's HTTP convention: the ordinal of a resent request.
            attributes.push(KeyValue::new(
                "http.request.resend_count",
                i64::from(attempt - 1),
            ));
        }
        attributes.push(KeyValue::new("toolgate.attempt", i64::from(attempt)));
        let tracer = &self.0.tracing.0;
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&**tracer, &self.0.cx);
        let context = span.span_context().clone();
        ClientSpan { span, context }
    }
}

/// The span of one backend request (an HTTP request, or a request to an upstream MCP server).
/// Ends when dropped.
pub struct ClientSpan {
    span: BoxedSpan,
    context: SpanContext,
}

impl ClientSpan {
    /// The `traceparent` the backend receives: this span as its parent.
    pub fn traceparent(&self) -> String {
        traceparent(&self.context)
    }

    /// The `tracestate` the backend receives (the client's, carried along), if any.
    pub fn tracestate(&self) -> Option<String> {
        let state = self.context.trace_state().header();
        (!state.is_empty()).then_some(state)
    }

    /// Adds an attribute.
    pub fn set_attribute(&mut self, attribute: KeyValue) {
        self.span.set_attribute(attribute);
    }

    /// Marks the request failed with `error_type` (a bounded label).
    pub fn fail(&mut self, error_type: impl Into<Cow<'static, str>>) {
        let error_type = error_type.into();
        self.span
            .set_attribute(KeyValue::new("error.type", error_type.clone()));
        self.span.set_status(Status::error(error_type));
    }
}

/// `span` as a W3C `traceparent` header value (version 00).
pub fn traceparent(span: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8()
    )
}

/// The W3C trace context a client sent: `traceparent` (`00-<trace id>-<parent id>-<flags>`;
/// a later version's extra fields are ignored, as the recommendation says) and its
/// `tracestate`, which is dropped when malformed. `None` when `traceparent` is not valid.
pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    let tp = traceparent.trim();
    let mut parts = tp.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    // Version 00 has exactly four fields; a later one may append more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()? & TraceFlags::SAMPLED.to_u8();
    let state = tracestate
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        state,
    ))
}

/// The trace context of an HTTP request's `traceparent` and `tracestate` headers.
pub fn from_headers(headers: &http::HeaderMap) -> Option<SpanContext> {
    const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
    const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");
    let tp = headers.get(TRACEPARENT)?.to_str().ok()?;
    let ts = headers.get(TRACESTATE).and_then(|v| v.to_str().ok());
    parse(tp, ts)
}

/// The trace context of an MCP request's `params._meta` (`traceparent`, `tracestate`: the
/// convention MCP SDKs follow for transports without headers, such as stdio).
pub fn from_meta(meta: &serde_json::Map<String, serde_json::Value>) -> Option<SpanContext> {
    let tp = meta.get("traceparent")?.as_str()?;
    let ts = meta.get("tracestate").and_then(serde_json::Value::as_str);
    parse(tp, ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_round_trips() {
        let sc = parse(TP, Some("vendor=abc, other=x")).unwrap();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(traceparent(&sc), TP);
        assert_eq!(sc.trace_state().get("vendor"), Some("abc"));
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad, None).is_none(), "{bad}");
        }
        // A later version may carry more fields.
        assert!(
            parse(
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                None
            )
            .is_some()
        );
    }

    #[test]
    fn a_malformed_tracestate_is_dropped_not_fatal() {
        let sc = parse(TP, Some("no equals sign")).unwrap();
        assert_eq!(sc.trace_state().header(), "");
    }

    #[test]
    fn meta_and_headers_carry_the_same_context() {
        let mut meta = serde_json::Map::new();
        meta.insert("traceparent".into(), TP.into());
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", TP.parse().unwrap());
        assert_eq!(from_meta(&meta), from_headers(&headers));
        assert!(from_meta(&meta).is_some());
    }
}
