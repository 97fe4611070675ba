//! Migration notes: the documented way a breaking change is made safe for consumers, which
//! turns its finding from failing into `covered`. Three kinds:
//!
//! - `rename`: tool `tool` is served as `to` from now on. The two are compared as one tool
//!   (so schema changes across the rename are still found), and the rename itself is covered.
//! - `default`: a new required argument (or one that became required) has a default that
//!   callers may rely on while they catch up (`argument`, or `pointer` for a nested one).
//! - `deprecation`: the component was announced deprecated with a sunset date; from that
//!   date on, its breaking changes (its removal, typically) are covered. Before it, they are
//!   not, and the reason says so.
//!
//! Every note carries a `note` (the link or sentence a reviewer reads). Notes are parsed by
//! the caller (the binary reads YAML or JSON) into [`Migrations`]; [`Migrations::validate`]
//! reports every problem at once.

use serde::Deserialize;
use serde_json::Value;

use crate::contract::Contract;
use crate::diff::{Finding, Severity};

/// A problem in a migrations file.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct MigrationError {
    /// One line per problem, each starting with its location (`migrations[2].sunset`).
    pub problems: Vec<String>,
}

/// The migrations file: `migrations:` followed by a list of notes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migrations {
    /// The notes.
    #[serde(default)]
    pub migrations: Vec<Migration>,
}

/// One migration note.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Migration {
    /// Tool `tool` is served as `to` from the new version on.
    Rename {
        /// The old name.
        tool: String,
        /// The new name.
        to: String,
        /// Why, and where consumers read about it.
        note: String,
    },
    /// A required argument has a default consumers may rely on.
    Default {
        /// The tool.
        tool: String,
        /// A top-level argument name.
        #[serde(default)]
        argument: Option<String>,
        /// Or a JSON pointer into the tool's definition (`/inputSchema/properties/a/properties/b`).
        #[serde(default)]
        pointer: Option<String>,
        /// The default applied when the argument is missing.
        value: Value,
        /// Why, and where consumers read about it.
        note: String,
    },
    /// The component was deprecated, with a sunset date.
    Deprecation {
        /// The tool or prompt name, or the resource URI (template).
        tool: String,
        /// `YYYY-MM-DD`: from this day on its breaking changes are covered.
        sunset: String,
        /// Why, and where consumers read about it.
        note: String,
    },
}

impl Migration {
    /// A short description for reports (`rename list_tasks → search_tasks`).
    pub fn describe(&self) -> String {
        match self {
            Migration::Rename { tool, to, .. } => format!("rename {tool} → {to}"),
            Migration::Default {
                tool,
                argument,
                pointer,
                value,
                ..
            } => {
                let at = argument
                    .clone()
                    .or_else(|| pointer.clone())
                    .unwrap_or_default();
                format!("default {tool} {at} = {value}")
            }
            Migration::Deprecation { tool, sunset, .. } => {
                format!("deprecation of {tool}, sunset {sunset}")
            }
        }
    }

    fn note(&self) -> &str {
        match self {
            Migration::Rename { note, .. }
            | Migration::Default { note, .. }
            | Migration::Deprecation { note, .. } => note,
        }
    }

    fn covered_by(&self) -> String {
        format!("{}: {}", self.describe(), self.note())
    }
}

/// Whether `s` is a `YYYY-MM-DD` date.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

/// Today's UTC date as `YYYY-MM-DD` (the civil date of the system clock).
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Howard Hinnant's days-to-civil algorithm.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Migrations {
    /// Every problem of the notes at once (empty fields, bad dates, a default without its
    /// argument), each with its location.
    pub fn validate(&self) -> Result<(), MigrationError> {
        let mut problems = Vec::new();
        for (i, m) in self.migrations.iter().enumerate() {
            let at = format!("migrations[{i}]");
            let mut need = |field: &str, value: &str| {
                if value.trim().is_empty() {
                    problems.push(format!("{at}.{field}: must not be empty"));
                }
            };
            need("note", m.note());
            match m {
                Migration::Rename { tool, to, .. } => {
                    need("tool", tool);
                    need("to", to);
                    if tool == to {
                        problems.push(format!(
                            "{at}.to: a rename to the same name (`{to}`) covers nothing"
                        ));
                    }
                }
                Migration::Default {
                    tool,
                    argument,
                    pointer,
                    ..
                } => {
                    need("tool", tool);
                    match (argument, pointer) {
                        (None, None) => problems.push(format!(
                            "{at}: give `argument` (a top-level argument name) or `pointer` (e.g. /inputSchema/properties/filter/properties/status)"
                        )),
                        (Some(_), Some(_)) => problems.push(format!(
                            "{at}: give either `argument` or `pointer`, not both"
                        )),
                        (_, Some(p)) if !p.starts_with('/') => problems.push(format!(
                            "{at}.pointer: `{p}` is not a JSON pointer (it starts with `/`)"
                        )),
                        _ => {}
                    }
                }
                Migration::Deprecation { tool, sunset, .. } => {
                    need("tool", tool);
                    if !is_date(sunset) {
                        problems.push(format!(
                            "{at}.sunset: `{sunset}` is not a date; write it as YYYY-MM-DD (quoted in YAML is fine)"
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(MigrationError { problems })
        }
    }

    /// The renames that apply: the old name only in `old`, the new name only in `new`.
    pub(crate) fn renames(&self, old: &Contract, new: &Contract) -> Vec<(String, String)> {
        self.migrations
            .iter()
            .filter_map(|m| match m {
                Migration::Rename { tool, to, .. }
                    if old.tool(tool).is_some()
                        && new.tool(tool).is_none()
                        && new.tool(to).is_some()
                        && old.tool(to).is_none() =>
                {
                    Some((tool.clone(), to.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Marks the breaking findings the notes cover; returns the notes that covered nothing.
    pub(crate) fn apply(&self, findings: &mut [Finding], today: &str) -> Vec<String> {
        let mut unused = Vec::new();
        for m in &self.migrations {
            let mut used = false;
            for f in findings.iter_mut() {
                if f.severity != Severity::Breaking || f.covered_by.is_some() {
                    continue;
                }
                let covers = match m {
                    // `tool-renamed` is only reported for a rename that applies.
                    Migration::Rename { tool, .. } => {
                        f.rule == "tool-renamed" && &f.component == tool
                    }
                    Migration::Default {
                        tool,
                        argument,
                        pointer,
                        ..
                    } => {
                        let at = match (argument, pointer) {
                            (Some(a), _) => format!(
                                "/inputSchema/properties/{}",
                                a.replace('~', "~0").replace('/', "~1")
                            ),
                            (None, Some(p)) => p.clone(),
                            (None, None) => continue,
                        };
                        &f.component == tool
                            && matches!(
                                f.rule.as_str(),
                                "required-argument-added" | "argument-became-required"
                            )
                            && f.pointer == at
                    }
                    Migration::Deprecation { tool, sunset, .. } => {
                        if &f.component != tool {
                            false
                        } else if today.is_empty() || today >= sunset.as_str() {
                            true
                        } else {
                            if !f.reason.contains("sunset") {
                                f.reason.push_str(&format!(
                                    " (deprecated, but before its sunset date {sunset})"
                                ));
                            }
                            used = true;
                            false
                        }
                    }
                };
                if covers {
                    f.covered_by = Some(m.covered_by());
                    used = true;
                }
            }
            if !used {
                unused.push(m.describe());
            }
        }
        unused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_a_date() {
        let t = today_utc();
        assert!(is_date(&t), "{t}");
        assert!(t.as_str() > "2024-01-01");
    }

    #[test]
    fn dates_are_checked() {
        for ok in ["2026-12-01", "1999-01-31"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2026-13-01",
            "2026-1-01",
            "tomorrow",
            "2026-12-00",
            "2026/12/01",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let m: Migrations = serde_json::from_value(serde_json::json!({"migrations": [
            {"kind": "deprecation", "tool": "a", "sunset": "soon", "note": ""},
            {"kind": "default", "tool": "b", "value": 1, "note": "x"},
            {"kind": "rename", "tool": "c", "to": "c", "note": "x"}
        ]}))
        .unwrap();
        let err = m.validate().unwrap_err().to_string();
        assert!(
            err.contains("migrations[0].note: must not be empty"),
            "{err}"
        );
        assert!(
            err.contains("migrations[0].sunset: `soon` is not a date"),
            "{err}"
        );
        assert!(err.contains("migrations[1]: give `argument`"), "{err}");
        assert!(err.contains("migrations[2].to"), "{err}");
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        let err = serde_json::from_value::<Migrations>(serde_json::json!({"migrations": [
            {"kind": "alias", "tool": "a", "note": "x"}
        ]}))
        .unwrap_err()
        .to_string();
        assert!(err.contains("alias"), "{err}");
        let err = serde_json::from_value::<Migrations>(serde_json::json!({"migrations": [
            {"kind": "rename", "tool": "a", "to": "b", "note": "x", "extra": 1}
        ]}))
        .unwrap_err()
        .to_string();
        assert!(err.contains("extra"), "{err}");
    }
}
