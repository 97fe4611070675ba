//! Checks of a deserialized configuration that its JSON Schema cannot express: addresses,
//! names, uniqueness, URLs. Values from the environment or under credential-named keys are
//! never quoted in the messages ([`Provenance::show`]). They also run on the well-formed parts
//! of a document that has structural errors ([`Lenient`]), so every problem shows at once.
//!
//! Checks that need the HTTP backend or the OpenAPI compiler (backend options, route-map
//! regexes) are not here: `check-config` runs them (`crate::check`), and `serve` when it builds
//! the sources.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::environment::Provenance;
use super::{
    AuthSection, Config, ConfigIssue, HttpSection, LimitsSection, RateLimitsSection,
    ResilienceSection, ServerSection, SourceConfig, SpecLocation,
};

/// The sections the checks read; a section (or source) that is not well-formed is `None` and
/// skipped, its structural errors being reported already.
pub(crate) struct Parts<'a> {
    server: Option<&'a ServerSection>,
    http: Option<&'a HttpSection>,
    limits: Option<&'a LimitsSection>,
    rate_limits: Option<&'a RateLimitsSection>,
    resilience: Option<&'a ResilienceSection>,
    sources: Vec<Option<&'a SourceConfig>>,
    auth: Option<&'a AuthSection>,
}

impl<'a> Parts<'a> {
    /// The parts of a valid configuration.
    pub(crate) fn of(config: &'a Config) -> Self {
        Parts {
            server: Some(&config.server),
            http: Some(&config.http),
            limits: Some(&config.limits),
            rate_limits: Some(&config.rate_limits),
            resilience: Some(&config.resilience),
            sources: config.sources.iter().map(Some).collect(),
            auth: config.auth.as_ref(),
        }
    }
}

/// The well-formed parts of a raw document with structural errors, deserialized one section
/// (and one source) at a time.
pub(crate) struct Lenient {
    server: Option<ServerSection>,
    http: Option<HttpSection>,
    limits: Option<LimitsSection>,
    rate_limits: Option<RateLimitsSection>,
    resilience: Option<ResilienceSection>,
    sources: Vec<Option<SourceConfig>>,
    auth: Option<AuthSection>,
}

impl Lenient {
    /// Deserializes each section and each source of `raw` on its own.
    pub(crate) fn from_raw(raw: &Value) -> Self {
        fn section<T: DeserializeOwned + Default>(raw: &Value, key: &str) -> Option<T> {
            match raw.get(key) {
                None => Some(T::default()),
                Some(v) => serde_json::from_value(v.clone()).ok(),
            }
        }
        Lenient {
            server: section(raw, "server"),
            http: section(raw, "http"),
            limits: section(raw, "limits"),
            rate_limits: section(raw, "rate_limits"),
            resilience: section(raw, "resilience"),
            sources: raw
                .get("sources")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|s| serde_json::from_value(s.clone()).ok())
                        .collect()
                })
                .unwrap_or_default(),
            auth: raw
                .get("auth")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
        }
    }

    /// The parts to check.
    pub(crate) fn parts(&self) -> Parts<'_> {
        Parts {
            server: self.server.as_ref(),
            http: self.http.as_ref(),
            limits: self.limits.as_ref(),
            rate_limits: self.rate_limits.as_ref(),
            resilience: self.resilience.as_ref(),
            sources: self.sources.iter().map(Option::as_ref).collect(),
            auth: self.auth.as_ref(),
        }
    }
}

/// Every semantic problem of `parts`.
pub(crate) fn check(parts: &Parts<'_>, prov: &Provenance) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut push =
        |location: String, message: String| issues.push(ConfigIssue { location, message });
    if let Some(http) = parts.http {
        check_http(http, prov, &mut push);
    }
    if let Some(server) = parts.server {
        for (location, message) in toolgate_core::curation::glob_problems(
            "server",
            "pinned_tools",
            &server.pinned_tools,
            &[],
        ) {
            // glob_problems names the list `allow`; here it is the list itself.
            push(
                location.replace(".pinned_tools.allow", ".pinned_tools"),
                message,
            );
        }
    }
    if parts.limits.is_some_and(|l| l.page_size == Some(0)) {
        push(
            "limits.page_size".to_owned(),
            "must be at least 1 (or absent for no pagination)".to_owned(),
        );
    }
    if let Some(auth) = parts.auth {
        check_auth(auth, parts.http, prov, &mut push);
    }
    if let Some(rate_limits) = parts.rate_limits {
        for problem in rate_limits.problems() {
            let location = format!("rate_limits.{}", problem.path);
            // The section's messages quote the value; one from the environment is not shown.
            let message = match prov.hidden(&location) {
                None => problem.message,
                Some(why) => format!(
                    "the value ({why}, not shown) is not valid here; see `rate_limits` in docs/traffic.md"
                ),
            };
            push(location, message);
        }
    }
    if let Some(rate_limits) = parts.rate_limits
        && parts.sources.iter().all(Option::is_some)
    {
        // Only when every source is well-formed: a broken one's name is not known here.
        let names: Vec<&str> = parts.sources.iter().flatten().map(|s| s.name()).collect();
        for problem in rate_limits.unknown_sources(&names) {
            push(format!("rate_limits.{}", problem.path), problem.message);
        }
    }
    let mut seen = BTreeMap::new();
    for (i, source) in parts.sources.iter().enumerate() {
        if let Some(source) = source {
            check_source(i, source, &mut seen, prov, &mut push);
        }
    }
    if let Some(resilience) = parts.resilience {
        // A source that is not well-formed has its own errors; its name is not known here.
        let names: Vec<&str> = parts.sources.iter().flatten().map(|s| s.name()).collect();
        let complete = parts.sources.iter().all(Option::is_some);
        for (at, message) in resilience.problems(&names) {
            if !complete && at.starts_with("sources.") && message.starts_with("names no") {
                continue;
            }
            push(format!("resilience.{at}"), message);
        }
    }
    issues
}

fn check_http(http: &HttpSection, prov: &Provenance, push: &mut impl FnMut(String, String)) {
    if http.bind.parse::<SocketAddr>().is_err() {
        push(
            "http.bind".to_owned(),
            format!(
                "{} is not an address like 127.0.0.1:8080 or [::1]:8080",
                prov.show("http.bind", &http.bind)
            ),
        );
    }
    if !http.path.starts_with('/') {
        push(
            "http.path".to_owned(),
            format!(
                "{} must start with `/`, e.g. /mcp",
                prov.show("http.path", &http.path)
            ),
        );
    }
    if matches!(
        http.path.as_str(),
        "/healthz" | "/readyz" | "/metrics" | "/admin/reload"
    ) {
        push(
            "http.path".to_owned(),
            format!(
                "{} is reserved for the gateway's own endpoints",
                prov.show("http.path", &http.path)
            ),
        );
    }
    if http.busy_poll_us > MAX_BUSY_POLL_US {
        push(
            "http.busy_poll_us".to_owned(),
            format!(
                "{} is more than {MAX_BUSY_POLL_US} µs: busy polling is meant to bridge the \
                 gaps between back-to-back calls (a few hundred µs); longer windows only burn \
                 CPU. Use 300 for low-latency serving on cores of its own, 0 to turn it off",
                prov.show("http.busy_poll_us", &http.busy_poll_us.to_string())
            ),
        );
    }
    for (at, problem) in http.sessions.problems() {
        push(format!("http.sessions.{at}"), problem);
    }
}

/// The longest busy-polling window accepted (`http.busy_poll_us`): 10 ms.
const MAX_BUSY_POLL_US: u64 = 10_000;

/// The edge keys of `auth` (how tokens are verified is checked by `toolgate-auth` when
/// `check-config` and `serve` build it).
fn check_auth(
    auth: &AuthSection,
    http: Option<&HttpSection>,
    prov: &Provenance,
    push: &mut impl FnMut(String, String),
) {
    match &auth.edge.resource {
        Some(resource) => match url::Url::parse(resource) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.fragment().is_none()
                    && u.query().is_none() => {}
            _ => push(
                "auth.resource".to_owned(),
                format!(
                    "{} is not the absolute http(s) URL of the MCP endpoint (no query, no \
                     fragment), such as https://mcp.example.com/mcp",
                    prov.show("auth.resource", resource)
                ),
            ),
        },
        None => {
            let loopback = http
                .and_then(|h| h.bind.parse::<SocketAddr>().ok())
                .is_none_or(|a| a.ip().is_loopback());
            if !loopback {
                push(
                    "auth.resource".to_owned(),
                    "is required when `http.bind` is not a loopback address: set it to the URL \
                     clients reach the MCP endpoint at (tokens must carry it as their audience), \
                     such as https://mcp.example.com/mcp"
                        .to_owned(),
                );
            }
        }
    }
    if let Some(stdio) = &auth.edge.stdio
        && stdio.subject.trim().is_empty()
    {
        push(
            "auth.stdio.subject".to_owned(),
            "is empty: name the caller stdio runs as, e.g. `ci-bot`".to_owned(),
        );
    }
}

/// Checks `sources[i]`; `seen` maps the names of the sources before it to their index.
fn check_source(
    i: usize,
    source: &SourceConfig,
    seen: &mut BTreeMap<String, usize>,
    prov: &Provenance,
    push: &mut impl FnMut(String, String),
) {
    let at = format!("sources[{i}]");
    let name_at = format!("{at}.name");
    let name = source.name();
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid_name {
        push(
            name_at.clone(),
            format!(
                "{} is not a valid source name: use lower-case letters, digits, `_` and `-`",
                prov.show(&name_at, name)
            ),
        );
    }
    if let Some(prev) = seen.insert(name.to_owned(), i) {
        push(
            name_at.clone(),
            format!(
                "{} is also the name of sources[{prev}]; names must be unique",
                prov.show(&name_at, name)
            ),
        );
    }
    let source = match source {
        SourceConfig::OpenApi(s) => s,
        SourceConfig::Mcp(m) => {
            for (location, message) in m.problems(&at) {
                push(location, message);
            }
            return;
        }
    };
    for (location, message) in toolgate_core::curation::glob_problems(
        &at,
        "tools",
        &source.tools.allow,
        &source.tools.deny,
    ) {
        push(location, message);
    }
    for (original, alias) in &source.tools.aliases {
        let ok = !alias.is_empty()
            && alias.len() <= 64
            && alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            push(
                format!("{at}.tools.aliases.{original}"),
                format!("`{alias}` is not a tool name: 1 to 64 of A-Z a-z 0-9 _ -"),
            );
        }
    }
    if let Some(base) = &source.base_url {
        let base_at = format!("{at}.base_url");
        match url::Url::parse(base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => push(
                base_at.clone(),
                format!(
                    "{} is not an absolute http(s) URL such as http://127.0.0.1:8000",
                    prov.show(&base_at, base)
                ),
            ),
        }
    }
    if let SpecLocation::Location(loc) = &source.spec
        && loc.trim().is_empty()
    {
        push(
            format!("{at}.spec"),
            "is empty: give a file path, an http(s) URL, or `inline:`".to_owned(),
        );
    }
}
