//! The `telemetry` section: OpenTelemetry traces exported over OTLP (docs/observability.md),
//! and its checks. Off unless `telemetry.traces` is present. Header values are secrets (they
//! usually carry a collector's API key): they never print, and no message quotes them or the
//! endpoint (which may come from the environment).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate_http::options::Secret;

use super::ConfigIssue;

/// Telemetry export.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// OpenTelemetry traces over OTLP: a span per MCP request and per backend or upstream
    /// request. Absent (the default): no span is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces: Option<TracesConfig>,
}

/// Where and how traces are exported.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// The collector's OTLP endpoint: with `http/protobuf` its base URL
    /// (`http://collector:4318`; `/v1/traces` is added unless the path already ends with it),
    /// with `grpc` its gRPC address (`http://collector:4317`).
    pub endpoint: String,
    /// The OTLP protocol: `http/protobuf` (the default) or `grpc`.
    #[serde(default)]
    pub protocol: OtlpProtocol,
    /// The fraction of new traces recorded, from 0 to 1 (default 1). A request that continues
    /// a client's trace follows the client's decision (its `traceparent`'s sampled flag).
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// The `service.name` of the spans (default `toolgate`).
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Headers sent with every export, e.g. a collector's API key (use `${VAR}`; the values
    /// are never printed).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Longest wait for one export, in milliseconds (default 10000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// The OTLP protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OtlpProtocol {
    /// Protobuf over HTTP (`POST <endpoint>/v1/traces`).
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// gRPC (plaintext `http://` endpoints).
    #[serde(rename = "grpc")]
    Grpc,
}

fn default_sample_ratio() -> f64 {
    1.0
}

fn default_service_name() -> String {
    "toolgate".to_owned()
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// The longest `timeout_ms` accepted (5 minutes).
const MAX_TIMEOUT_MS: u64 = 300_000;

impl TracesConfig {
    /// The URL spans are sent to: the endpoint, with `/v1/traces` added for `http/protobuf`
    /// unless it is there already.
    pub fn export_url(&self) -> String {
        match self.protocol {
            OtlpProtocol::Grpc => self.endpoint.clone(),
            OtlpProtocol::HttpProtobuf => {
                let base = self.endpoint.trim_end_matches('/');
                if base.ends_with("/v1/traces") {
                    base.to_owned()
                } else {
                    format!("{base}/v1/traces")
                }
            }
        }
    }
}

/// Every problem of the `telemetry` section.
pub(crate) fn check(section: &TelemetrySection) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let Some(traces) = &section.traces else {
        return issues;
    };
    let mut push = |field: &str, message: String| {
        issues.push(ConfigIssue {
            location: format!("telemetry.traces.{field}"),
            message,
        })
    };
    match url::Url::parse(&traces.endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            if traces.protocol == OtlpProtocol::Grpc && url.scheme() == "https" {
                push(
                    "endpoint",
                    "`grpc` export is plaintext only (`http://`): use `protocol: http/protobuf` \
                     for an `https://` collector, or a collector sidecar reached over `http://`"
                        .to_owned(),
                );
            }
            if !url.username().is_empty() || url.password().is_some() {
                push(
                    "endpoint",
                    "must not carry credentials: put them in `headers` (e.g. `authorization: \
                     ${OTLP_AUTH}`)"
                        .to_owned(),
                );
            }
        }
        _ => push(
            "endpoint",
            "must be an absolute http(s) URL of the collector, e.g. `http://127.0.0.1:4318` \
             (http/protobuf) or `http://127.0.0.1:4317` (grpc)"
                .to_owned(),
        ),
    }
    if !(traces.sample_ratio.is_finite() && (0.0..=1.0).contains(&traces.sample_ratio)) {
        push(
            "sample_ratio",
            format!(
                "must be between 0 and 1 (the fraction of new traces recorded), not {}",
                traces.sample_ratio
            ),
        );
    }
    if traces.service_name.trim().is_empty() {
        push(
            "service_name",
            "must not be empty (it names toolgate in the trace backend)".to_owned(),
        );
    }
    if traces.timeout_ms == 0 || traces.timeout_ms > MAX_TIMEOUT_MS {
        push(
            "timeout_ms",
            format!(
                "must be between 1 and {MAX_TIMEOUT_MS} milliseconds, not {}",
                traces.timeout_ms
            ),
        );
    }
    for (name, value) in &traces.headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            push(
                &format!("headers.{name}"),
                "is not a valid HTTP header name (letters, digits and `-`)".to_owned(),
            );
        }
        if reqwest::header::HeaderValue::from_str(value.expose()).is_err() {
            // The value is a secret: described, never quoted.
            push(
                &format!("headers.{name}"),
                "the value (not shown) is not a valid HTTP header value: it must be visible \
                 ASCII without line breaks"
                    .to_owned(),
            );
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traces(yaml: &str) -> TelemetrySection {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn absent_traces_mean_off_and_no_problem() {
        let t = TelemetrySection::default();
        assert!(t.traces.is_none());
        assert!(check(&t).is_empty());
    }

    #[test]
    fn defaults_and_the_export_url() {
        let t = traces("traces: {endpoint: 'http://127.0.0.1:4318'}");
        let tr = t.traces.as_ref().unwrap();
        assert_eq!(tr.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(tr.sample_ratio, 1.0);
        assert_eq!(tr.service_name, "toolgate");
        assert_eq!(tr.export_url(), "http://127.0.0.1:4318/v1/traces");
        assert!(check(&t).is_empty());
        let t = traces("traces: {endpoint: 'http://c:4318/v1/traces/'}");
        assert_eq!(t.traces.unwrap().export_url(), "http://c:4318/v1/traces");
        let t = traces("traces: {endpoint: 'http://c:4317', protocol: grpc}");
        assert_eq!(t.traces.unwrap().export_url(), "http://c:4317");
    }

    #[test]
    fn every_problem_is_reported_with_its_path_and_no_secret() {
        let t = traces(
            "traces:\n  endpoint: 'https://user:pw@c:4317'\n  protocol: grpc\n  sample_ratio: 1.5\n  service_name: ' '\n  timeout_ms: 0\n  headers:\n    'bad name': x\n    Api-Key: \"sec\\nret\"\n",
        );
        let issues = check(&t);
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        let locations: Vec<&str> = issues.iter().map(|i| i.location.as_str()).collect();
        for want in [
            "telemetry.traces.endpoint",
            "telemetry.traces.sample_ratio",
            "telemetry.traces.service_name",
            "telemetry.traces.timeout_ms",
            "telemetry.traces.headers.bad name",
            "telemetry.traces.headers.Api-Key",
        ] {
            assert!(locations.contains(&want), "missing {want} in {text:?}");
        }
        let all = text.join("\n");
        assert!(!all.contains("sec\nret") && !all.contains("pw@"), "{all}");
        assert!(all.contains("plaintext only"), "{all}");
    }

    #[test]
    fn a_relative_or_foreign_endpoint_is_refused() {
        for bad in ["collector:4318", "/v1/traces", "ftp://c/"] {
            let t = TelemetrySection {
                traces: Some(TracesConfig {
                    endpoint: bad.to_owned(),
                    ..traces("traces: {endpoint: 'http://c'}").traces.unwrap()
                }),
            };
            assert_eq!(check(&t).len(), 1, "{bad}");
        }
    }
}
