//! `toolgate access --config FILE`: what a caller gets under the configuration's
//! authorization rules, and why; with `--matrix`, every principal the rules name × every
//! tool, resource and prompt (a text table or `--json`), so a reviewer can check least
//! privilege before deploying.
//!
//! The catalog is the one `serve` would serve (sources loaded, MCP servers started and
//! stopped again), and every verdict comes from `toolgate_policy::authz::Policy` — the code
//! the gateway enforces with — so what this prints is what callers get.
//!
//! `--token` decodes the JWT's claims **without verifying its signature** (the output says
//! so): it answers "what would a caller with these claims get", not "is this token valid".
//! The token itself is never printed.

use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use toolgate_core::{AuthMethod, Catalog, Principal};
use toolgate_policy::authz::{AuthorizationConfig, Grant, Item, Policy};

use crate::Failure;
use crate::cli::AccessArgs;
use crate::config::Config;
use crate::{redact, run};

/// Runs `access`.
pub async fn run(args: AccessArgs) -> Result<ExitCode, Failure> {
    let config = run::load_config_file(&args.config)?;
    let authentication = run::authentication_enabled(&config);
    let section = config.authorization.clone().unwrap_or_default();
    let policy = compile(&section, authentication)?;
    let caller = if args.matrix {
        None
    } else {
        Some(caller(&args)?)
    };
    let catalog = load_catalog(&config, &args.config).await?;
    let active = config.authorization.is_some() || authentication;
    // With `--endpoint`: what that virtual server serves, and whether the caller gets in.
    let endpoint = match &args.endpoint {
        None => None,
        Some(name) => Some(crate::endpoints::named(&config, name)?),
    };
    let catalog = match &endpoint {
        Some(e) => e.view.catalog(&catalog),
        None => catalog,
    };
    let refused = match (&endpoint, &caller) {
        (Some(e), Some(c)) => crate::endpoints::refusal(e, c.principal.as_ref(), authentication),
        _ => None,
    };
    let catalog = match &refused {
        // A caller refused at the endpoint reaches nothing there.
        Some(_) => Arc::new(Catalog::default()),
        None => catalog,
    };
    let text = match caller {
        None => {
            let m = matrix(&policy, &section, &catalog);
            if args.json {
                serde_json::to_string_pretty(&m.to_json()).unwrap_or_default()
            } else {
                m.to_text()
            }
        }
        Some(caller) => {
            let report = report(&policy, &catalog, &caller, active);
            if args.json {
                let mut doc = report.to_json();
                if let Some(e) = &endpoint {
                    doc["endpoint"] = json!({
                        "name": e.config.name,
                        "path": e.config.path(),
                        "admitted": refused.is_none(),
                        "refusal": refused,
                    });
                }
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            } else {
                let mut text = String::new();
                if let Some(e) = &endpoint {
                    text.push_str(&format!(
                        "endpoint: `{}` at {} ({})\n",
                        e.config.name,
                        e.config.path(),
                        match &refused {
                            None => "this caller is admitted".to_owned(),
                            Some(why) => format!("this caller is REFUSED: {why}"),
                        }
                    ));
                }
                text.push_str(&report.to_text());
                text
            }
        }
    };
    redact::println(text.trim_end());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn compile(
    section: &AuthorizationConfig,
    authentication: bool,
) -> Result<Policy, Failure> {
    Policy::compile(section, authentication).map_err(|errors| {
        Failure::Input(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })
}

/// The catalog `serve` would serve.
pub(crate) async fn load_catalog(
    config: &Config,
    path: &std::path::Path,
) -> Result<Arc<Catalog>, Failure> {
    let assembled = run::assemble(config, &run::parent_dir(path)).await?;
    let catalog = assembled.gateway.catalog().load_full();
    assembled.stop().await;
    Ok(catalog)
}

/// The caller described on the command line.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal, `None` for an anonymous caller.
    pub principal: Option<Principal>,
    /// Where it came from, for the report's first line.
    pub origin: &'static str,
}

fn caller(args: &AccessArgs) -> Result<Caller, Failure> {
    if args.anonymous {
        return Ok(Caller {
            principal: None,
            origin: "anonymous (no principal)",
        });
    }
    if let Some(token) = &args.token {
        return Ok(Caller {
            principal: Some(principal_from_jwt(token, &args.roles_claim)?),
            origin: "token claims, decoded WITHOUT verifying the signature",
        });
    }
    let mut p = Principal::new(
        args.subject
            .clone()
            .unwrap_or_else(|| "(unnamed)".to_owned()),
        args.scopes.clone(),
        AuthMethod::Configured,
    );
    p.roles = args.roles.clone();
    Ok(Caller {
        principal: Some(p),
        origin: "command line",
    })
}

/// A principal from a JWT's claims (not verified): `sub`, scopes from `scope` (space
/// separated) or `scp`, roles from the claim at `roles_claim`.
pub fn principal_from_jwt(token: &str, roles_claim: &str) -> Result<Principal, Failure> {
    let bad = |why: &str| {
        Failure::Input(format!(
            "--token is not a JWT ({why}); pass the compact form `header.payload.signature`"
        ))
    };
    let mut parts = token.trim().split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected three dot-separated parts"));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| bad("the payload is not base64url"))?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| bad("the payload is not a JSON object"))?;
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let scopes = match claims.get("scope") {
        Some(v) => strings(Some(v)),
        None => strings(claims.get("scp")),
    };
    let mut roles_value = None;
    let mut at = Some(&claims);
    let path: Vec<&str> = roles_claim.split('.').collect();
    for (i, key) in path.iter().enumerate() {
        let Some(map) = at else { break };
        let v = map.get(*key);
        if i + 1 == path.len() {
            roles_value = v;
        } else {
            at = v.and_then(Value::as_object);
        }
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or("(no sub)")
        .to_owned();
    let mut p = Principal::new(subject, scopes, AuthMethod::Jwt);
    p.roles = strings(roles_value);
    p.claims = Arc::new(claims);
    Ok(p)
}

/// One tool, resource, template or prompt and the verdict on it.
#[derive(Debug, Clone)]
pub struct Line {
    /// `tool`, `resource`, `template` or `prompt`.
    pub kind: &'static str,
    /// Its name or URI.
    pub name: String,
    /// Whether the caller may use it.
    pub allowed: bool,
    /// Why, in words.
    pub why: String,
    /// The deciding rule.
    pub rule: Option<String>,
}

/// Every item of `catalog` with `decide`'s verdict (catalog order).
fn lines(
    catalog: &Catalog,
    mut decide: impl FnMut(&Item<'_>) -> toolgate_core::Decision,
) -> Vec<Line> {
    let mut out = Vec::new();
    let mut push = |kind, name: &str, item: Item<'_>| {
        let d = decide(&item);
        let why = match (d.reason, &d.rule) {
            ("rule", Some(r)) => format!("allowed by rule `{r}`"),
            ("deny_rule", Some(r)) => format!("denied by rule `{r}`"),
            ("unauthenticated_allowed", _) => {
                "allowed: no principal while authentication is off (`unauthenticated: allow`)"
                    .to_owned()
            }
            ("no_rule", _) => "hidden: no rule allows it".to_owned(),
            (other, _) => other.to_owned(),
        };
        out.push(Line {
            kind,
            name: name.to_owned(),
            allowed: d.allowed,
            why,
            rule: d.rule.map(|r| r.to_string()),
        });
    };
    for e in catalog.tools() {
        push("tool", &e.tool.name, Item::Tool(e));
    }
    for e in catalog.resources() {
        push(
            "resource",
            &e.resource.uri,
            Item::Resource {
                uri: &e.resource.uri,
                source: &e.source,
            },
        );
    }
    for e in catalog.templates() {
        let uri = &e.template.uri_template;
        push(
            "template",
            uri,
            Item::Resource {
                uri,
                source: &e.source,
            },
        );
    }
    for e in catalog.prompts() {
        push("prompt", &e.prompt.name, Item::Prompt(e));
    }
    out
}

/// What one caller gets.
#[derive(Debug)]
pub struct Report {
    caller: Caller,
    /// Whether authorization is on at all (else everything is served).
    active: bool,
    rules: Vec<String>,
    lines: Vec<Line>,
}

/// What `caller` gets of `catalog` under `policy` (`active`: whether the gateway enforces
/// authorization at all).
pub fn report(policy: &Policy, catalog: &Catalog, caller: &Caller, active: bool) -> Report {
    let grant = policy.grant(caller.principal.as_ref());
    let rules = match &grant {
        Grant::All => Vec::new(),
        Grant::Rules(r) => r
            .iter()
            .filter_map(|&i| policy.rules().get(i as usize))
            .map(|r| r.name.to_string())
            .collect(),
    };
    let lines = lines(catalog, |item| {
        if active {
            policy.decide(&grant, item)
        } else {
            toolgate_core::Decision {
                allowed: true,
                reason: "authorization_off",
                rule: None,
            }
        }
    });
    Report {
        caller: caller.clone(),
        active,
        rules,
        lines,
    }
}

impl Report {
    /// Every item with its verdict (catalog order).
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The text view.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        match &self.caller.principal {
            None => out.push_str(&format!("caller: {}\n", self.caller.origin)),
            Some(p) => out.push_str(&format!(
                "caller: subject `{}`, scopes [{}], roles [{}] ({})\n",
                p.subject,
                p.scopes.join(", "),
                p.roles.join(", "),
                self.caller.origin
            )),
        }
        if !self.active {
            out.push_str(
                "authorization is off (no `authorization` section, no authentication): every caller gets everything\n",
            );
        }
        out.push_str(&format!(
            "rules that apply: {}\n",
            if self.rules.is_empty() {
                "none".to_owned()
            } else {
                self.rules.join(", ")
            }
        ));
        for (kind, title) in [
            ("tool", "tools"),
            ("resource", "resources"),
            ("template", "resource templates"),
            ("prompt", "prompts"),
        ] {
            let of_kind: Vec<&Line> = self.lines.iter().filter(|l| l.kind == kind).collect();
            if of_kind.is_empty() {
                continue;
            }
            let allowed = of_kind.iter().filter(|l| l.allowed).count();
            out.push_str(&format!(
                "\n{title}: {allowed} of {} visible\n",
                of_kind.len()
            ));
            let width = of_kind.iter().map(|l| l.name.len()).max().unwrap_or(0);
            for l in of_kind {
                let mark = if l.allowed { "+" } else { "-" };
                out.push_str(&format!("  {mark} {:width$}  {}\n", l.name, l.why));
            }
        }
        out
    }

    /// The JSON view.
    pub fn to_json(&self) -> Value {
        let p = self.caller.principal.as_ref();
        json!({
            "caller": {
                "origin": self.caller.origin,
                "subject": p.map(|p| p.subject.clone()),
                "scopes": p.map(|p| p.scopes.clone()).unwrap_or_default(),
                "roles": p.map(|p| p.roles.clone()).unwrap_or_default(),
            },
            "authorization": self.active,
            "rules": self.rules,
            "items": self.lines.iter().map(|l| json!({
                "kind": l.kind,
                "name": l.name,
                "allowed": l.allowed,
                "why": l.why,
                "rule": l.rule,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A column of the matrix: a principal some rule names.
#[derive(Debug)]
struct Profile {
    label: String,
    principal: Option<Principal>,
}

/// The principals the rules name: one per rule's selector (one per role when it lists
/// several), deduplicated, in rule order, then an anonymous caller.
fn profiles(section: &AuthorizationConfig) -> Vec<Profile> {
    let mut out: Vec<Profile> = Vec::new();
    for rule in &section.rules {
        let s = &rule.principals;
        if s.any {
            continue;
        }
        let roles: Vec<Option<&String>> = if s.roles.is_empty() {
            vec![None]
        } else {
            s.roles.iter().map(Some).collect()
        };
        for role in roles {
            let mut label = Vec::new();
            if !s.scopes.is_empty() {
                label.push(format!("scopes={}", s.scopes.join("+")));
            }
            if let Some(r) = role {
                label.push(format!("role={r}"));
            }
            if let Some(sub) = s.subjects.first() {
                label.push(format!("sub={sub}"));
            }
            for (k, v) in &s.claims {
                label.push(format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                ));
            }
            let label = label.join(",");
            if out.iter().any(|p| p.label == label) {
                continue;
            }
            let mut p = Principal::new(
                s.subjects.first().cloned().unwrap_or_else(|| label.clone()),
                s.scopes.clone(),
                AuthMethod::Configured,
            );
            p.roles = role.cloned().into_iter().collect();
            let mut claims = Map::new();
            for (path, value) in &s.claims {
                insert_path(&mut claims, path, value.clone());
            }
            p.claims = Arc::new(claims);
            out.push(Profile {
                label,
                principal: Some(p),
            });
        }
    }
    out.push(Profile {
        label: "anonymous".to_owned(),
        principal: None,
    });
    out
}

fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((first, rest)) => {
            let child = map
                .entry(first.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert_path(child, rest, value);
            }
        }
    }
}

/// The role × item matrix.
#[derive(Debug)]
pub struct Matrix {
    columns: Vec<String>,
    /// Per column, the verdict on every item (same order in each).
    cells: Vec<Vec<Line>>,
}

/// Every principal the rules name × every item of `catalog`.
pub fn matrix(policy: &Policy, section: &AuthorizationConfig, catalog: &Catalog) -> Matrix {
    let mut profiles = profiles(section);
    if policy.grant(None) == Grant::All
        && let Some(anonymous) = profiles.last_mut()
    {
        anonymous.label = "anonymous(auth off)".to_owned();
    }
    let cells = profiles
        .iter()
        .map(|p| {
            let grant = policy.grant(p.principal.as_ref());
            lines(catalog, |item| policy.decide(&grant, item))
        })
        .collect();
    Matrix {
        columns: profiles.into_iter().map(|p| p.label).collect(),
        cells,
    }
}

impl Matrix {
    /// The text table: `allow`, `DENY` (a deny rule) or `-` (no rule) per cell.
    pub fn to_text(&self) -> String {
        let Some(first) = self.cells.first() else {
            return String::new();
        };
        let names: Vec<String> = first
            .iter()
            .map(|l| format!("{} {}", l.kind, l.name))
            .collect();
        let width = names.iter().map(String::len).max().unwrap_or(0).max(4);
        let widths: Vec<usize> = self.columns.iter().map(|c| c.len().max(5)).collect();
        let mut out = format!("{:width$}", "");
        for (c, w) in self.columns.iter().zip(&widths) {
            out.push_str(&format!("  {c:w$}"));
        }
        out.push('\n');
        for (i, name) in names.iter().enumerate() {
            out.push_str(&format!("{name:width$}"));
            for (column, w) in self.cells.iter().zip(&widths) {
                let cell = match &column[i] {
                    l if l.allowed => "allow",
                    l if l.rule.is_some() => "DENY",
                    _ => "-",
                };
                out.push_str(&format!("  {cell:w$}"));
            }
            out.push('\n');
        }
        out.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    /// The JSON view: the columns and, per item, the verdict and rule for each column.
    pub fn to_json(&self) -> Value {
        let Some(first) = self.cells.first() else {
            return json!({"columns": [], "items": []});
        };
        let items: Vec<Value> = first
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let access: Map<String, Value> = self
                    .columns
                    .iter()
                    .zip(&self.cells)
                    .map(|(c, column)| {
                        let cell = &column[i];
                        (
                            c.clone(),
                            json!({"allowed": cell.allowed, "rule": cell.rule}),
                        )
                    })
                    .collect();
                json!({"kind": l.kind, "name": l.name, "access": access})
            })
            .collect();
        json!({"columns": self.columns, "items": items})
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
