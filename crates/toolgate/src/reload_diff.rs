//! What a reload from one configuration to another changes: the sections a reload applies,
//! the sections that need a restart, and the sources added, removed and changed. Used by the
//! reload itself (its warnings and the admin endpoint's answer) and by
//! `toolgate reload --check` (crate::reload_check).
//!
//! Does not own: applying any of it (crate::reload).

use serde_json::{Value, json};

use crate::config::{Config, SourceConfig};

/// The sections a reload applies (besides `sources`).
const APPLIED: [&str; 5] = [
    "authorization",
    "rate_limits",
    "resilience",
    "audit",
    "recording",
];

/// The differences between the configuration in force and a new one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadDiff {
    /// Sections that changed and that a reload applies (`authorization`, `rate_limits`,
    /// `resilience`, `audit`, `recording`).
    pub applied: Vec<&'static str>,
    /// Sections that changed but need a restart (the running values stay).
    pub restart: Vec<&'static str>,
    /// Sources only the new configuration has.
    pub added: Vec<String>,
    /// Sources only the running configuration has.
    pub removed: Vec<String>,
    /// Sources in both whose configuration differs (an OpenAPI source's spec file may change
    /// without its configuration: it is reloaded anyway, but not listed here).
    pub changed: Vec<String>,
    /// Changed or added sources a reload cannot apply (OpenAPI sources that mint identity
    /// tokens: their keys are served from start).
    pub restart_sources: Vec<String>,
}

pub(crate) fn same_json<T: serde::Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

/// What reloading from `old` to `new` changes.
pub fn diff(old: &Config, new: &Config) -> ReloadDiff {
    let mut d = ReloadDiff {
        restart: sections_needing_restart(old, new),
        ..ReloadDiff::default()
    };
    for (name, differ) in [
        (
            APPLIED[0],
            !same_json(&old.authorization, &new.authorization),
        ),
        (APPLIED[1], !same_json(&old.rate_limits, &new.rate_limits)),
        (APPLIED[2], !same_json(&old.resilience, &new.resilience)),
        (APPLIED[3], !same_json(&old.audit, &new.audit)),
        (APPLIED[4], !same_json(&old.recording, &new.recording)),
    ] {
        if differ {
            d.applied.push(name);
        }
    }
    for source in &new.sources {
        match old.sources.iter().find(|o| o.name() == source.name()) {
            None => d.added.push(source.name().to_owned()),
            Some(o) if !same_json(o, source) => d.changed.push(source.name().to_owned()),
            Some(_) => continue,
        }
        if let SourceConfig::OpenApi(s) = source
            && s.backend.identity.mint.is_some()
        {
            d.restart_sources.push(source.name().to_owned());
        }
    }
    for source in &old.sources {
        if !new.sources.iter().any(|s| s.name() == source.name()) {
            d.removed.push(source.name().to_owned());
        }
    }
    d
}

/// The sections other than `sources` that differ and that a reload does not apply.
pub fn sections_needing_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differ: bool| {
        if differ {
            changed.push(name);
        }
    };
    check("server", !same_json(&old.server, &new.server));
    check("http", !same_json(&old.http, &new.http));
    check("logging", !same_json(&old.logging, &new.logging));
    check("limits", !same_json(&old.limits, &new.limits));
    check("auth", !same_json(&old.auth, &new.auth));
    // The exporter is built once at start (`crate::telemetry`).
    check("telemetry", !same_json(&old.telemetry, &new.telemetry));
    // Virtual servers are routed when the process starts; what they serve follows reloads.
    check("endpoints", !same_json(&old.endpoints, &new.endpoints));
    // The dashboard's routes and budgets are set when the HTTP app is built.
    check("dashboard", !same_json(&old.dashboard, &new.dashboard));
    let stdio = |c: &Config| {
        c.authorization
            .as_ref()
            .and_then(|a| a.stdio_principal.as_ref())
            .and_then(|p| serde_json::to_value(p).ok())
    };
    check("authorization.stdio_principal", stdio(old) != stdio(new));
    changed
}

impl ReloadDiff {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        *self == ReloadDiff::default()
    }

    /// As JSON (the admin endpoint's `changes`).
    pub fn to_json(&self) -> Value {
        json!({
            "sections_applied": self.applied,
            "sections_needing_restart": self.restart,
            "sources_added": self.added,
            "sources_removed": self.removed,
            "sources_changed": self.changed,
            "sources_needing_restart": self.restart_sources,
        })
    }

    /// As lines for people (`toolgate reload --check`).
    pub fn lines(&self) -> Vec<String> {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let sections = |v: &[&str]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let mut out = vec![
            format!("sources added: {}", list(&self.added)),
            format!("sources removed: {}", list(&self.removed)),
            format!("sources changed: {}", list(&self.changed)),
            format!("sections applied by a reload: {}", sections(&self.applied)),
            format!(
                "sections needing a restart (the running values would stay): {}",
                sections(&self.restart)
            ),
        ];
        if !self.restart_sources.is_empty() {
            out.push(format!(
                "sources needing a restart (they mint identity tokens): {}",
                list(&self.restart_sources)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        crate::config::load(yaml, "test.yaml", &Default::default()).unwrap()
    }

    #[test]
    fn sources_and_sections_are_sorted_into_what_a_reload_applies_and_what_needs_a_restart() {
        let old =
            config("sources:\n  - name: a\n    spec: a.json\n  - name: b\n    spec: b.json\n");
        let new = config(
            "server:\n  name: renamed\nrate_limits:\n  limits:\n    - name: l\n      per: [global]\n      rate: 5/s\nsources:\n  - name: a\n    spec: a2.json\n  - name: c\n    spec: c.json\n",
        );
        let d = diff(&old, &new);
        assert_eq!(d.added, vec!["c"]);
        assert_eq!(d.removed, vec!["b"]);
        assert_eq!(d.changed, vec!["a"]);
        assert_eq!(d.applied, vec!["rate_limits"]);
        assert_eq!(d.restart, vec!["server"]);
        assert!(diff(&old, &old).is_empty());
        let j = d.to_json();
        assert_eq!(j["sources_added"], json!(["c"]));
        assert_eq!(j["sections_needing_restart"], json!(["server"]));
    }
}
