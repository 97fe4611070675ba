//! Checks of a deserialized configuration that its JSON Schema cannot express: addresses,
//! names, uniqueness, URLs. Values from the environment or under credential-named keys are
//! never quoted in the messages ([`Provenance::show`]).
//!
//! Checks that need the HTTP backend or the OpenAPI compiler (backend options, route-map
//! regexes) are not here: `check-config` runs them (`crate::check`), and `serve` when it builds
//! the sources.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::environment::Provenance;
use super::{Config, ConfigIssue, SpecLocation};

/// Every semantic problem of `config`.
pub(crate) fn check(config: &Config, prov: &Provenance) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut push =
        |location: String, message: String| issues.push(ConfigIssue { location, message });
    if config.http.bind.parse::<SocketAddr>().is_err() {
        push(
            "http.bind".to_owned(),
            format!(
                "{} is not an address like 127.0.0.1:8080 or [::1]:8080",
                prov.show("http.bind", &config.http.bind)
            ),
        );
    }
    if !config.http.path.starts_with('/') {
        push(
            "http.path".to_owned(),
            format!(
                "{} must start with `/`, e.g. /mcp",
                prov.show("http.path", &config.http.path)
            ),
        );
    }
    if matches!(
        config.http.path.as_str(),
        "/healthz" | "/readyz" | "/metrics"
    ) {
        push(
            "http.path".to_owned(),
            format!(
                "{} is reserved for the gateway's own endpoints",
                prov.show("http.path", &config.http.path)
            ),
        );
    }
    if config.limits.page_size == Some(0) {
        push(
            "limits.page_size".to_owned(),
            "must be at least 1 (or absent for no pagination)".to_owned(),
        );
    }
    let mut seen = BTreeMap::new();
    for (i, source) in config.sources.iter().enumerate() {
        let at = format!("sources[{i}]");
        let name_at = format!("{at}.name");
        let valid_name = !source.name.is_empty()
            && source
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            push(
                name_at.clone(),
                format!(
                    "{} is not a valid source name: use lower-case letters, digits, `_` and `-`",
                    prov.show(&name_at, &source.name)
                ),
            );
        }
        if let Some(prev) = seen.insert(source.name.clone(), i) {
            push(
                name_at.clone(),
                format!(
                    "{} is also the name of sources[{prev}]; names must be unique",
                    prov.show(&name_at, &source.name)
                ),
            );
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
    issues
}
