//! toolgate's YAML configuration: the types (which are the reference and the JSON Schema),
//! and [`load`], which parses, interpolates `${VAR}`, applies `TOOLGATE_…` environment
//! overrides and validates, reporting every problem at once with its location.
//!
//! Precedence, highest first: environment overrides (`TOOLGATE_HTTP__BIND=…`), the file,
//! then the defaults written on each type. Secrets are `Secret` values that never print.
//!
//! No error prints a secret, by construction: `environment` records which values came from
//! the environment, and neither the schema errors (`schema_errors`) nor the semantic ones
//! (`semantics`) quote those or values under credential-named keys. As a last line of
//! defence, [`load`] registers every such value with [`crate::redact`], which scrubs all
//! output of the binary. Checks that need the backend or the compiler are in `crate::check`.

mod auth;
mod endpoints;
mod environment;
mod schema_errors;
mod schema_shape;
pub(crate) use schema_shape::did_you_mean;
mod semantics;
mod telemetry;

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_http::HttpSourceOptions;
use toolgate_openapi::CompileOptions;
pub use toolgate_policy::ResilienceConfig as ResilienceSection;
pub use toolgate_policy::limits::RateLimitsConfig as RateLimitsSection;
pub use toolgate_upstream::McpSourceConfig;

pub use self::auth::{AuthEdge, AuthSection, MetricsAccess, StdioPrincipal};
pub use self::endpoints::{EndpointAuth, EndpointConfig};
pub use self::telemetry::{OtlpProtocol, TelemetrySection, TracesConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What the server announces to MCP clients.
    pub server: ServerSection,
    /// The streamable HTTP transport (used by `toolgate serve --http`).
    pub http: HttpSection,
    /// Log output.
    pub logging: LoggingSection,
    /// Listing limits.
    pub limits: LimitsSection,
    /// Rate limits and concurrency caps on calls (see docs/traffic.md).
    pub rate_limits: RateLimitsSection,
    /// Retries and circuit breakers for the sources' backends (docs/traffic.md).
    pub resilience: ResilienceSection,
    /// The APIs (OpenAPI, the default kind) and MCP servers (`kind: mcp`) served.
    pub sources: Vec<SourceConfig>,
    /// Inbound authentication (OAuth 2.1 resource server, API keys). Absent: every HTTP
    /// caller is anonymous, which is right only on loopback. See docs/auth.md.
    pub auth: Option<AuthSection>,
    /// Who may call and see which tools, resources and prompts (`docs/auth.md`,
    /// "Authorization"). Present = deny by default: only what a rule allows is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationConfig>,
    /// An audit log: one JSON line per call (who, what, the decision, the outcome).
    pub audit: AuditConfig,
    /// OpenTelemetry traces over OTLP (docs/observability.md). Off by default.
    pub telemetry: TelemetrySection,
    /// Record tool calls (sampled, redacted, result shapes only) to JSON Lines for
    /// `toolgate replay` (docs/gate.md, "Recording"). Absent: nothing is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingConfig>,
    /// Virtual servers: more MCP endpoints (`/mcp/{name}`), each serving a selection of the
    /// catalog with its own identity, tool mode and access rules (docs/large-apis.md).
    /// Empty: only the main endpoint (`http.path`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointConfig>,
    /// The built-in live dashboard at `/admin/dashboard` (on by default; its data is
    /// protected like `POST /admin/reload`) and the latency budgets it draws
    /// (docs/observability.md, "Dashboard"). Read at start: a reload does not change it.
    pub dashboard: DashboardSection,
}

pub use toolgate_server::DashboardConfig as DashboardSection;

pub use toolgate_policy::audit::AuditConfig;
pub use toolgate_policy::authz::AuthorizationConfig;
pub use toolgate_policy::record::RecordingConfig;

/// Server identity.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// `serverInfo.name` announced to clients.
    pub name: String,
    /// Instructions for the model, announced at initialization.
    pub instructions: Option<String>,
    /// How `tools/list` shows the tools: `full` lists every tool; `meta` lists three
    /// meta-tools instead (`search_tools`, `describe_tool`, `call_tool`) plus the
    /// `pinned_tools`; `auto` is `meta` when there are more than `auto_meta_threshold` tools.
    /// A source's own `tool_mode` wins for its tools. See docs/large-apis.md.
    pub tool_mode: ToolMode,
    /// With `tool_mode: auto`, the number of tools above which the meta-tools replace the
    /// list (counted over the catalog; over the source for a source's own `auto`).
    pub auto_meta_threshold: usize,
    /// Tools always listed directly in meta-tool mode, beside the meta-tools: names or globs
    /// (`*`, `?`, `[a-z]`, `{a,b}`) of served tool names.
    pub pinned_tools: Vec<String>,
}

/// The default of `server.auto_meta_threshold`: clients cap the tools they take at tens.
pub const DEFAULT_AUTO_META_THRESHOLD: usize = 100;

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            name: "toolgate".to_owned(),
            instructions: None,
            tool_mode: ToolMode::Full,
            auto_meta_threshold: DEFAULT_AUTO_META_THRESHOLD,
            pinned_tools: Vec::new(),
        }
    }
}

pub use toolgate_core::ToolMode;

impl Config {
    /// What the catalog lists directly (meta-tool mode), from `server` and the sources' own
    /// `tool_mode`; `None` when every tool is always listed.
    pub fn tool_view(&self) -> Option<std::sync::Arc<toolgate_core::ToolView>> {
        let view = toolgate_core::ToolView {
            mode: self.server.tool_mode,
            auto_threshold: self.server.auto_meta_threshold,
            pinned: self.server.pinned_tools.clone(),
            sources: self
                .sources
                .iter()
                .filter_map(|s| match s {
                    SourceConfig::OpenApi(s) => s.tool_mode.map(|m| (s.name.clone(), m)),
                    SourceConfig::Mcp(s) => s.tool_mode.map(|m| (s.name.clone(), m)),
                })
                .collect(),
        };
        view.may_use_meta().then(|| std::sync::Arc::new(view))
    }
}

/// The `http` section is the HTTP transport's own settings type (one type, not a mirror).
pub use toolgate_server::{HttpOptions as HttpSection, SessionMode as SessionModeConfig};

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSection {
    /// `text` for people, `json` for log pipelines. Logs always go to stderr.
    pub format: LogFormat,
    /// Filter in `RUST_LOG` syntax (`info`, `toolgate=debug,info`). `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Listing limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Items per page of `tools/list` and `resources/*list`; absent = everything in one page.
    pub page_size: Option<usize>,
}

/// One source: an OpenAPI service (`kind: openapi`, the default when `kind` is absent) or an
/// upstream MCP server (`kind: mcp`).
#[derive(Debug, Clone)]
// Built once per source at start and never moved in a hot path: boxing the larger variant
// would only complicate every construction site.
#[allow(clippy::large_enum_variant)]
pub enum SourceConfig {
    /// An API described by OpenAPI, served as tools.
    OpenApi(OpenApiSourceConfig),
    /// An MCP server whose tools, resources and prompts are served through the gateway.
    Mcp(McpSourceConfig),
}

impl SourceConfig {
    /// The source's name.
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::OpenApi(s) => &s.name,
            SourceConfig::Mcp(s) => &s.name,
        }
    }
}

impl From<OpenApiSourceConfig> for SourceConfig {
    fn from(s: OpenApiSourceConfig) -> Self {
        SourceConfig::OpenApi(s)
    }
}

impl From<McpSourceConfig> for SourceConfig {
    fn from(s: McpSourceConfig) -> Self {
        SourceConfig::Mcp(s)
    }
}

/// The tag of a source's kind.
const KIND: &str = "kind";

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
        let kind = map.remove(KIND);
        let rest = Value::Object(map);
        match kind.as_ref().map(|k| k.as_str()) {
            None | Some(Some("openapi")) => serde_json::from_value(rest)
                .map(SourceConfig::OpenApi)
                .map_err(D::Error::custom),
            Some(Some("mcp")) => serde_json::from_value(rest)
                .map(SourceConfig::Mcp)
                .map_err(D::Error::custom),
            Some(_) => Err(D::Error::custom(
                "`kind` must be `openapi` (the default) or `mcp`",
            )),
        }
    }
}

impl Serialize for SourceConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let (kind, value) = match self {
            SourceConfig::OpenApi(c) => ("openapi", serde_json::to_value(c)),
            SourceConfig::Mcp(c) => ("mcp", serde_json::to_value(c)),
        };
        let mut value = value.map_err(S::Error::custom)?;
        if let Value::Object(map) = &mut value {
            map.insert(KIND.to_owned(), Value::from(kind));
        }
        value.serialize(s)
    }
}

impl JsonSchema for SourceConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SourceConfig".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // Each kind's own schema with the `kind` tag added: optional for OpenAPI (the
        // default), required for MCP. The configuration errors find the union by that tag.
        fn tagged(
            mut schema: schemars::Schema,
            kind: &str,
            description: &str,
            required: bool,
        ) -> Value {
            let mut value = schema
                .as_object_mut()
                .map(|m| Value::Object(m.clone()))
                .unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                let props = obj
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(props) = props.as_object_mut() {
                    props.insert(
                        KIND.to_owned(),
                        serde_json::json!({ "description": description, "const": kind }),
                    );
                }
                if required {
                    let req = obj
                        .entry("required")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Some(req) = req.as_array_mut() {
                        req.insert(0, Value::from(KIND));
                    }
                }
            }
            value
        }
        let openapi = tagged(
            OpenApiSourceConfig::json_schema(generator),
            "openapi",
            "An API described by OpenAPI (the default when `kind` is absent).",
            false,
        );
        let mcp = tagged(
            McpSourceConfig::json_schema(generator),
            "mcp",
            "An upstream MCP server.",
            true,
        );
        schemars::json_schema!({
            "description": "One source: an OpenAPI service (`kind: openapi`, the default) or an upstream MCP server (`kind: mcp`).",
            "oneOf": [openapi, mcp]
        })
    }
}

/// One API served as tools.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSourceConfig {
    /// Source name: used in logs, metrics, `/readyz` and resource URIs. `[a-z0-9_-]+`.
    pub name: String,
    /// Where the OpenAPI (3.0/3.1) or Swagger 2.0 document comes from.
    pub spec: SpecLocation,
    /// Base URL of the API. Default: the spec's first server, resolved against the spec's
    /// URL when relative; or the spec URL's origin when the spec names no server.
    #[serde(default)]
    pub base_url: Option<String>,
    /// How operations become tools: namespace, naming, selection, route maps, overrides.
    #[serde(default)]
    pub compile: CompileOptions,
    /// How the API is called: timeouts, limits, backend authentication, header forwarding.
    #[serde(default)]
    pub backend: HttpSourceOptions,
    /// Which tools are served and how they are presented, in the vocabulary of MCP sources
    /// (`allow`/`deny` names and globs, `aliases`, `descriptions`, `annotations`, `arguments`:
    /// hidden fixed or default values the model never sees, e.g. a tenant id), matched on the
    /// names `compile` gives.
    #[serde(default)]
    pub tools: toolgate_core::curation::ToolCuration,
    /// This source's own `server.tool_mode` (`full`, `meta`, or `auto` counted over this
    /// source's tools). Absent: the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_mode: Option<ToolMode>,
}

/// Where a spec comes from: a path, an http(s) URL, or the document itself.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SpecLocation {
    /// A file path (relative to the config file) or an `http://`/`https://` URL.
    Location(String),
    /// The document inline.
    Inline {
        /// The OpenAPI document as YAML/JSON data.
        inline: Value,
    },
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Where: a dotted path like `sources[0].backend.timeout_ms`, or `(file)`.
    pub location: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    /// The file (or `<flags>`).
    pub origin: String,
    /// The problems, in document order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration {} ({} problem{}):",
            self.origin,
            self.issues.len(),
            if self.issues.len() == 1 { "" } else { "s" }
        )?;
        for issue in &self.issues {
            // Continuation lines (a regex error's caret diagram) stay inside their item.
            writeln!(f, "  - {}", issue.to_string().replace('\n', "\n    "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The JSON Schema of the configuration file (checked in as `docs/config.schema.json`).
pub fn json_schema() -> Value {
    let schema = schemars::schema_for!(Config);
    serde_json::to_value(schema).expect("schema serializes")
}

/// Parses, interpolates, overrides, validates and deserializes a configuration.
///
/// `env` is the process environment (a map, so tests do not mutate the real one). No value
/// taken from `env` (interpolated or overriding) appears in the returned errors. Every
/// interpolated value, every value under a credential-named key and every credential in a URL
/// is registered with the process-wide redactor ([`crate::redact::register`]), whether the
/// configuration is valid or not.
pub fn load(
    text: &str,
    origin: &str,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigErrors> {
    let mut raw: Value = if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        // The file as written: no environment value is in it yet.
        serde_norway::from_str(text).map_err(|e| {
            let location = e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_else(|| "(file)".to_owned());
            ConfigErrors {
                origin: origin.to_owned(),
                issues: vec![ConfigIssue {
                    location,
                    message: format!("not valid YAML: {e}"),
                }],
            }
        })?
    };
    if raw.is_null() {
        raw = Value::Object(Default::default());
    }
    let mut prov = environment::Provenance::default();
    let mut issues = Vec::new();
    environment::interpolate(&mut raw, "", env, &mut prov, &mut issues);
    environment::apply_env_overrides(&mut raw, env, &mut prov, &mut issues);
    let secrets = prov.secrets(&raw);
    crate::redact::register(&secrets);
    // Nothing below quotes a secret; this local scrub guards embedders that print the errors
    // without the process-wide redactor.
    let mut local = crate::redact::Redactor::new();
    local.extend(&secrets);
    let fail = |issues: Vec<ConfigIssue>| ConfigErrors {
        origin: origin.to_owned(),
        issues: issues
            .into_iter()
            .map(|i| ConfigIssue {
                location: local.scrub(&i.location).into_owned(),
                message: local.scrub(&i.message).into_owned(),
            })
            .collect(),
    };
    // Interpolation and structure are checked together: both need only the raw document.
    issues.extend(schema_errors::check(&json_schema(), &raw, &prov));
    if !issues.is_empty() {
        // The semantic problems of the well-formed parts too, so every problem shows at once.
        let lenient = semantics::Lenient::from_raw(&raw);
        issues.extend(semantics::check(&lenient.parts(), &prov));
        if let Some(t) = raw
            .get("telemetry")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
        {
            issues.extend(telemetry::check(&t));
        }
        return Err(fail(issues));
    }
    let config: Config = serde_json::from_value(raw).map_err(|e| {
        // The schema accepted the document, so this is a gap between the schema and the
        // types; serde's message may quote a value, which the scrub above hides.
        fail(vec![ConfigIssue {
            location: "(file)".to_owned(),
            message: format!("does not match the configuration types: {e}"),
        }])
    })?;
    let mut issues = semantics::check(&semantics::Parts::of(&config), &prov);
    issues.extend(telemetry::check(&config.telemetry));
    issues.extend(endpoints::check(&config));
    issues.extend(
        config
            .dashboard
            .budgets
            .problems()
            .into_iter()
            .map(|(location, message)| ConfigIssue { location, message }),
    );
    if let Some(authz) = &config.authorization
        && authz.stdio_principal.is_some()
        && config.auth.is_some()
    {
        issues.push(ConfigIssue {
            location: "authorization.stdio_principal".to_owned(),
            message: "with an `auth` section the stdio principal is `auth.stdio`: move it there \
                      (one place decides who stdio runs as)"
                .to_owned(),
        });
    }
    if let Some(authz) = &config.authorization
        && let Err(errors) = toolgate_policy::authz::Policy::compile(authz, false)
    {
        issues.extend(errors.into_iter().map(|e| ConfigIssue {
            location: e.path,
            message: e.message,
        }));
    }
    if !issues.is_empty() {
        return Err(fail(issues));
    }
    Ok(config)
}

/// `(top level)` for the empty path.
fn display_path(path: &str) -> String {
    if path.is_empty() {
        "(top level)".to_owned()
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn authorization_rules_are_checked_with_their_paths() {
        let text = "authorization:\n  rules:\n    - name: r\n      principals: {roles: [reader]}\n      tools: {names: [\"list_*\", \"bad[\"]}\n";
        let e = load(text, "t.yaml", &env(&[])).unwrap_err();
        assert_eq!(e.issues.len(), 1, "{e}");
        assert_eq!(
            e.issues[0].location,
            "authorization.rules[0].tools.names[1]"
        );
        let text = "authorization:\n  rules:\n    - name: r\n      principals: {roles: [reader]}\n      tools: {read_only: true}\n      colour: red\n";
        let e = load(text, "t.yaml", &env(&[])).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn the_stdio_principal_is_set_in_one_place() {
        let text = "auth:\n  issuer: https://idp.example\n  jwt: {}\n  stdio: {subject: a}\nauthorization:\n  stdio_principal: {subject: b}\n";
        let e = load(text, "t.yaml", &env(&[])).unwrap_err();
        assert_eq!(e.issues.len(), 1, "{e}");
        assert_eq!(e.issues[0].location, "authorization.stdio_principal");
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = load("", "t.yaml", &env(&[])).unwrap();
        assert_eq!(c.http.bind, "127.0.0.1:8080");
        assert_eq!(c.http.path, "/mcp");
        assert!(c.sources.is_empty());
    }

    #[test]
    fn every_unknown_key_is_reported_at_once_with_its_location() {
        let text = "htp:\n  bind: x\nhttp:\n  bnd: 1\nsources:\n  - name: a\n    spec: a.yaml\n    colour: red\n";
        let err = load(text, "t.yaml", &env(&[])).unwrap_err();
        let rendered = err.to_string();
        assert!(err.issues.len() >= 3, "{rendered}");
        assert!(rendered.contains("htp"), "{rendered}");
        assert!(rendered.contains("bnd"), "{rendered}");
        assert!(rendered.contains("colour"), "{rendered}");
        assert!(rendered.contains("sources[0]"), "{rendered}");
    }

    #[test]
    fn variables_are_interpolated_and_missing_ones_reported() {
        let text = "server:\n  name: ${NAME}\n  instructions: cost $${HOME} ${MISSING}\n";
        let err = load(text, "t.yaml", &env(&[("NAME", "gw")])).unwrap_err();
        assert_eq!(err.issues.len(), 1);
        assert!(err.issues[0].message.contains("MISSING"));
        assert_eq!(err.issues[0].location, "server.instructions");
        let ok = load(
            "server:\n  name: ${NAME}\n  instructions: a $${B}\n",
            "t",
            &env(&[("NAME", "gw")]),
        )
        .unwrap();
        assert_eq!(ok.server.name, "gw");
        assert_eq!(ok.server.instructions.as_deref(), Some("a ${B}"));
    }

    #[test]
    fn environment_overrides_win_over_the_file() {
        let text = "http:\n  bind: 127.0.0.1:9000\n  json_response: true\n";
        let c = load(
            text,
            "t",
            &env(&[
                ("TOOLGATE_HTTP__BIND", "127.0.0.1:9100"),
                ("TOOLGATE_HTTP__JSON_RESPONSE", "false"),
                ("TOOLGATE_CONFIG", "ignored.yaml"),
            ]),
        )
        .unwrap();
        assert_eq!(c.http.bind, "127.0.0.1:9100");
        assert!(!c.http.json_response);
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let text = "http:\n  bind: nowhere\n  path: mcp\nsources:\n  - name: A B\n    spec: ''\n    base_url: ftp://x\n  - name: dup\n    spec: a\n  - name: dup\n    spec: b\n";
        let err = load(text, "t", &env(&[])).unwrap_err();
        let locs: Vec<&str> = err.issues.iter().map(|i| i.location.as_str()).collect();
        for want in [
            "http.bind",
            "http.path",
            "sources[0].name",
            "sources[0].spec",
            "sources[0].base_url",
            "sources[2].name",
        ] {
            assert!(locs.contains(&want), "missing {want} in {locs:?}");
        }
    }

    #[test]
    fn busy_polling_is_off_by_default_and_bounded() {
        let c = load("sources:\n  - name: a\n    spec: a\n", "t", &env(&[])).unwrap();
        assert_eq!(c.http.busy_poll_us, 0);
        let on = load(
            "http:\n  busy_poll_us: 300\nsources:\n  - name: a\n    spec: a\n",
            "t",
            &env(&[]),
        )
        .unwrap();
        assert_eq!(on.http.busy_poll_us, 300);
        let err = load(
            "http:\n  busy_poll_us: 50000\nsources:\n  - name: a\n    spec: a\n",
            "t",
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("http.busy_poll_us: `50000` is more than 10000 µs"),
            "{err}"
        );
    }

    #[test]
    fn meta_tool_settings_become_a_view_and_bad_ones_are_reported_with_their_place() {
        let text = "server:\n  tool_mode: auto\n  auto_meta_threshold: 50\n  pinned_tools: [repos_get, 'search_*']\nsources:\n  - name: gh\n    spec: a\n    tool_mode: meta\n  - name: todo\n    spec: b\n";
        let c = load(text, "t", &env(&[])).unwrap();
        let view = c.tool_view().expect("a view when a mode may hide tools");
        assert_eq!(view.mode, ToolMode::Auto);
        assert_eq!(view.auto_threshold, 50);
        assert_eq!(view.sources, vec![("gh".to_owned(), ToolMode::Meta)]);
        let full = load("sources:\n  - name: a\n    spec: a\n", "t", &env(&[])).unwrap();
        assert!(full.tool_view().is_none(), "the default lists every tool");
        let bad = "server:\n  pinned_tools: ['a[']\nsources:\n  - name: a\n    spec: a\n    tool_mode: metaa\n";
        let err = load(bad, "t", &env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("server.pinned_tools: `a[` is not a valid glob"),
            "{err}"
        );
        assert!(err.contains("sources[0].tool_mode"), "{err}");
    }

    #[test]
    fn semantic_problems_are_reported_with_structural_ones() {
        let text = "http:\n  bind: nowhere\nlimits:\n  page_size: -1\nsources:\n  - name: A\n    spec: a\n  - name: b\n    spec: b\n    colour: red\n";
        let err = load(text, "t", &env(&[])).unwrap_err();
        let locs: Vec<&str> = err.issues.iter().map(|i| i.location.as_str()).collect();
        for want in [
            "http.bind",
            "limits.page_size",
            "sources[0].name",
            "sources[1]",
        ] {
            assert!(locs.contains(&want), "missing {want} in {err}");
        }
    }

    #[test]
    fn rate_limit_problems_name_their_path_and_hide_values_from_the_environment() {
        let text = "rate_limits:\n  backend:\n    type: redis\n    url: redis://:${PW}@127.0.0.1:1\n    timeout_ms: 0\n  limits:\n    - name: a\n      per: [subject]\n      rate: 60/mn\n    - name: b\n      per: [tool]\n      rate: ${RATE}\n";
        let err = load(
            text,
            "t",
            &env(&[("PW", "hunter2"), ("RATE", "9/fortnight")]),
        )
        .unwrap_err();
        let locs: Vec<&str> = err.issues.iter().map(|i| i.location.as_str()).collect();
        assert_eq!(
            locs,
            [
                "rate_limits.backend.timeout_ms",
                "rate_limits.limits[0].rate",
                "rate_limits.limits[1].rate"
            ],
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("`60/mn` is not a rate"), "{text}");
        assert!(
            !text.contains("fortnight") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("not shown"), "{text}");
        let err = load(
            "rate_limits:\n  limits:\n    - name: x\n      rate: 1/s\n      pre: [tool]\n",
            "t",
            &env(&[]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("rate_limits.limits[0]"), "{err}");
    }

    #[test]
    fn per_source_rate_limits_must_name_a_configured_source() {
        let base = "sources:\n  - name: api\n    spec: a.json\nrate_limits:\n  sources:\n";
        let limit =
            "      limits:\n        - name: a\n          per: [global]\n          rate: 1/s\n";
        let err = load(&format!("{base}    nope:\n{limit}"), "t", &env(&[])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("rate_limits.sources.nope"), "{text}");
        assert!(
            text.contains("names no configured source (configured: api)"),
            "{text}"
        );
        let ok = load(&format!("{base}    api:\n{limit}"), "t", &env(&[])).unwrap();
        assert!(ok.rate_limits.is_enabled());
    }

    #[test]
    fn resilience_problems_name_their_path() {
        let text = "resilience:\n  retry:\n    max_attempts: 0\n    budget: { window_secs: 90 }\n  circuit_breaker:\n    failure_rate: 2\n  sources:\n    nope:\n      retry: {}\nsources:\n  - name: api\n    spec: a.yaml\n";
        let err = load(text, "t", &env(&[])).unwrap_err();
        let locs: Vec<&str> = err.issues.iter().map(|i| i.location.as_str()).collect();
        for want in [
            "resilience.retry.max_attempts",
            "resilience.retry.budget.window_secs",
            "resilience.circuit_breaker.failure_rate",
            "resilience.sources.nope",
        ] {
            assert!(locs.contains(&want), "missing {want} in {err}");
        }
        assert!(err.to_string().contains("the sources are: api"), "{err}");
        let ok = "resilience:\n  retry: {}\n  circuit_breaker: {}\n  sources:\n    api:\n      circuit_breaker: { enabled: false }\nsources:\n  - name: api\n    spec: a.yaml\n";
        let config = load(ok, "t", &env(&[])).unwrap();
        assert!(config.resilience.retry_for("api").is_some());
        assert!(config.resilience.breaker_for("api").is_none());
    }

    #[test]
    fn bad_yaml_names_line_and_column() {
        let err = load("http: [unclosed", "t", &env(&[])).unwrap_err();
        assert!(err.issues[0].location.starts_with("line "), "{err}");
    }

    #[test]
    fn checked_in_schema_matches_the_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.schema.json");
        let current = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("TOOLGATE_UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &current).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == current,
            "docs/config.schema.json is out of date: run `TOOLGATE_UPDATE_SCHEMA=1 cargo test -p toolgate checked_in_schema` and commit it"
        );
    }
}
