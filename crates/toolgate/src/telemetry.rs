//! The trace exporter's lifecycle: the `telemetry.traces` section becomes the OpenTelemetry
//! SDK's tracer provider (sampler, batch span processor, OTLP exporter over HTTP/protobuf or
//! gRPC) and the [`Tracing`] the gateway makes its spans with; [`Traces::shutdown`] flushes
//! what is still queued when the server stops.
//!
//! The libraries know the OpenTelemetry API only (`toolgate_core::trace`); the SDK lives here.
//! Export runs on the SDK's own thread and never blocks a call: when the collector is slow or
//! down, spans queue up to the batch processor's limit (2048) and the excess is dropped.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use toolgate_core::trace::Tracing;

use crate::Failure;
use crate::config::{OtlpProtocol, TracesConfig};

/// The running trace pipeline: shut it down to flush the spans still queued.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts the exporter of `config` (inside the runtime: the gRPC client needs it) and
    /// returns it with the tracer the gateway uses.
    pub fn start(config: &TracesConfig) -> Result<(Traces, Tracing), Failure> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let url = config.export_url();
        let exporter = match config.protocol {
            OtlpProtocol::HttpProtobuf => {
                let headers: HashMap<String, String> = config
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                    .collect();
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(url)
                    .with_timeout(timeout)
                    .with_headers(headers)
                    .build()
            }
            OtlpProtocol::Grpc => {
                // Checked by `config::load` (valid names, visible ASCII values).
                let mut headers = reqwest::header::HeaderMap::new();
                for (name, value) in &config.headers {
                    if let (Ok(name), Ok(mut value)) = (
                        reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                        reqwest::header::HeaderValue::from_str(value.expose()),
                    ) {
                        value.set_sensitive(true);
                        headers.insert(name, value);
                    }
                }
                let metadata =
                    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers);
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(url)
                    .with_timeout(timeout)
                    .with_metadata(metadata)
                    .build()
            }
        }
        // The builder's message names the setting, never a header value.
        .map_err(|e| {
            Failure::Input(format!(
                "telemetry.traces: cannot set up the OTLP exporter: {e}"
            ))
        })?;
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("toolgate");
        tracing::info!(
            protocol = ?config.protocol,
            sample_ratio = config.sample_ratio,
            service_name = %config.service_name,
            "traces on: exporting spans over OTLP"
        );
        Ok((
            Traces { provider },
            Tracing::new(opentelemetry::global::BoxedTracer::new(Box::new(tracer))),
        ))
    }

    /// Exports what is still queued and stops the exporter (waits up to the export timeout;
    /// blocking: call it off the runtime's worker, e.g. in `spawn_blocking`).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("traces: the last spans could not be exported at shutdown: {e}");
        }
    }
}

/// Starts the exporter when `telemetry.traces` is configured.
pub fn start(config: &crate::config::Config) -> Result<Option<(Traces, Tracing)>, Failure> {
    config
        .telemetry
        .traces
        .as_ref()
        .map(Traces::start)
        .transpose()
}
