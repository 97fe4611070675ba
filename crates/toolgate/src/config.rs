//! toolgate's YAML configuration: the types (which are the reference and the JSON Schema),
//! loading with `${VAR}` interpolation and `TOOLGATE_…` environment overrides, and validation
//! that reports every problem at once with its location.
//!
//! Precedence, highest first: environment overrides (`TOOLGATE_HTTP__BIND=…`), the file,
//! then the defaults written on each type. Secrets are `Secret` values that never print.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_http::HttpSourceOptions;
use toolgate_openapi::CompileOptions;

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
    /// The APIs served as tools.
    pub sources: Vec<SourceConfig>,
}

/// Server identity.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// `serverInfo.name` announced to clients.
    pub name: String,
    /// Instructions for the model, announced at initialization.
    pub instructions: Option<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            name: "toolgate".to_owned(),
            instructions: None,
        }
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

/// One API served as tools.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
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
            writeln!(f, "  - {issue}")?;
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
/// `env` is the process environment (a map, so tests do not mutate the real one).
pub fn load(
    text: &str,
    origin: &str,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigErrors> {
    let fail = |issues: Vec<ConfigIssue>| ConfigErrors {
        origin: origin.to_owned(),
        issues,
    };
    let mut raw: Value = if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_norway::from_str(text).map_err(|e| {
            let location = e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_else(|| "(file)".to_owned());
            fail(vec![ConfigIssue {
                location,
                message: format!("not valid YAML: {e}"),
            }])
        })?
    };
    if raw.is_null() {
        raw = Value::Object(Default::default());
    }
    let mut issues = Vec::new();
    interpolate(&mut raw, "", env, &mut issues);
    apply_env_overrides(&mut raw, env, &mut issues);
    if !issues.is_empty() {
        return Err(fail(issues));
    }
    let issues = validate_structure(&raw);
    if !issues.is_empty() {
        return Err(fail(issues));
    }
    let config: Config = serde_json::from_value(raw).map_err(|e| {
        fail(vec![ConfigIssue {
            location: "(file)".to_owned(),
            message: e.to_string(),
        }])
    })?;
    let issues = validate_semantics(&config);
    if !issues.is_empty() {
        return Err(fail(issues));
    }
    Ok(config)
}

/// Replaces `${VAR}` in every string with the variable's value; `$${` stands for a literal `${`.
fn interpolate(
    value: &mut Value,
    path: &str,
    env: &BTreeMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) {
    match value {
        Value::String(s) if s.contains("${") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(i) = rest.find('$') {
                out.push_str(&rest[..i]);
                let tail = &rest[i..];
                if let Some(t) = tail.strip_prefix("$${") {
                    out.push_str("${");
                    rest = t;
                } else if let Some(t) = tail.strip_prefix("${") {
                    match t.find('}') {
                        Some(end) => {
                            let name = &t[..end];
                            match env.get(name) {
                                Some(v) => out.push_str(v),
                                None => issues.push(ConfigIssue {
                                    location: display_path(path),
                                    message: format!(
                                        "environment variable `{name}` is not set (referenced as `${{{name}}}`); set it or write `$${{` for a literal `${{`"
                                    ),
                                }),
                            }
                            rest = &t[end + 1..];
                        }
                        None => {
                            issues.push(ConfigIssue {
                                location: display_path(path),
                                message: "unclosed `${` in string; write `${NAME}`".to_owned(),
                            });
                            rest = "";
                        }
                    }
                } else {
                    out.push('$');
                    rest = &tail[1..];
                }
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                interpolate(v, &format!("{path}[{i}]"), env, issues);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate(v, &child, env, issues);
            }
        }
        _ => {}
    }
}

/// Applies `TOOLGATE_<SECTION>__<KEY>=value` overrides (`__` separates levels; names are
/// lower-cased; values are parsed as YAML scalars, so `true`, `8080` and `[a, b]` work).
/// `TOOLGATE_CONFIG` and other variables without `__` are not overrides.
fn apply_env_overrides(
    raw: &mut Value,
    env: &BTreeMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) {
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("TOOLGATE_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let segments: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if segments.iter().any(|s| s.is_empty()) {
            issues.push(ConfigIssue {
                location: key.clone(),
                message: "empty segment in environment override; use TOOLGATE_SECTION__KEY"
                    .to_owned(),
            });
            continue;
        }
        let parsed: Value = serde_norway::from_str(value).unwrap_or(Value::String(value.clone()));
        let mut node = &mut *raw;
        for seg in &segments[..segments.len() - 1] {
            let Value::Object(map) = node else {
                issues.push(ConfigIssue {
                    location: key.clone(),
                    message: format!("cannot override inside `{seg}`: it is not a section"),
                });
                break;
            };
            node = map
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Default::default()));
        }
        if let Value::Object(map) = node {
            map.insert(segments[segments.len() - 1].clone(), parsed);
        }
    }
}

/// Checks the raw document against the configuration's JSON Schema, collecting every error
/// (unknown keys, wrong types, bad enum values) with its location.
fn validate_structure(raw: &Value) -> Vec<ConfigIssue> {
    let schema = json_schema();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => {
            return vec![ConfigIssue {
                location: "(schema)".to_owned(),
                message: format!("internal error: config schema does not compile: {e}"),
            }];
        }
    };
    let mut issues: Vec<ConfigIssue> = validator
        .iter_errors(raw)
        .map(|e| {
            let location = pointer_to_path(&e.instance_path().to_string());
            let message = describe_schema_error(&e);
            ConfigIssue { location, message }
        })
        .collect();
    issues.sort_by(|a, b| a.location.cmp(&b.location));
    issues.dedup();
    issues
}

fn describe_schema_error(e: &jsonschema::ValidationError<'_>) -> String {
    let text = e.to_string();
    if text.contains("Additional properties are not allowed") {
        format!("{text}; check the spelling against docs/config.schema.json")
    } else {
        text
    }
}

/// `/sources/0/backend/timeout_ms` → `sources[0].backend.timeout_ms`.
fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    display_path(&out)
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "(top level)".to_owned()
    } else {
        path.to_owned()
    }
}

/// Checks what the schema cannot express: addresses, names, uniqueness.
fn validate_semantics(config: &Config) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    if config.http.bind.parse::<SocketAddr>().is_err() {
        issues.push(ConfigIssue {
            location: "http.bind".to_owned(),
            message: format!(
                "`{}` is not an address like 127.0.0.1:8080 or [::1]:8080",
                config.http.bind
            ),
        });
    }
    if !config.http.path.starts_with('/') {
        issues.push(ConfigIssue {
            location: "http.path".to_owned(),
            message: format!("`{}` must start with `/`, e.g. /mcp", config.http.path),
        });
    }
    if matches!(
        config.http.path.as_str(),
        "/healthz" | "/readyz" | "/metrics"
    ) {
        issues.push(ConfigIssue {
            location: "http.path".to_owned(),
            message: format!(
                "`{}` is reserved for the gateway's own endpoints",
                config.http.path
            ),
        });
    }
    if config.limits.page_size == Some(0) {
        issues.push(ConfigIssue {
            location: "limits.page_size".to_owned(),
            message: "must be at least 1 (or absent for no pagination)".to_owned(),
        });
    }
    let mut seen = BTreeMap::new();
    for (i, source) in config.sources.iter().enumerate() {
        let at = format!("sources[{i}]");
        let valid_name = !source.name.is_empty()
            && source
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            issues.push(ConfigIssue {
                location: format!("{at}.name"),
                message: format!(
                    "`{}` is not a valid source name: use lower-case letters, digits, `_` and `-`",
                    source.name
                ),
            });
        }
        if let Some(prev) = seen.insert(source.name.clone(), i) {
            issues.push(ConfigIssue {
                location: format!("{at}.name"),
                message: format!(
                    "`{}` is also the name of sources[{prev}]; names must be unique",
                    source.name
                ),
            });
        }
        if let Some(base) = &source.base_url {
            match url::Url::parse(base) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => issues.push(ConfigIssue {
                    location: format!("{at}.base_url"),
                    message: format!(
                        "`{base}` is not an absolute http(s) URL such as http://127.0.0.1:8000"
                    ),
                }),
            }
        }
        if let SpecLocation::Location(loc) = &source.spec
            && loc.trim().is_empty()
        {
            issues.push(ConfigIssue {
                location: format!("{at}.spec"),
                message: "is empty: give a file path, an http(s) URL, or `inline:`".to_owned(),
            });
        }
    }
    issues
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
