//! Unit tests of rule matching: globs, tags, methods, annotations, claims paths, deny wins.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::json;
use toolgate_core::{AuthMethod, Principal, ToolEntry, ToolMeta};

use super::*;

struct Nothing;
impl toolgate_core::ToolHandler for Nothing {
    fn call(
        &self,
        _: &toolgate_core::CallContext,
        _: JsonObject,
    ) -> futures::future::BoxFuture<'static, toolgate_core::ToolOutcome> {
        Box::pin(async { Ok(rmcp::model::CallToolResult::success(vec![])) })
    }
}

fn tool(
    name: &str,
    read_only: Option<bool>,
    destructive: Option<bool>,
    tags: &[&str],
    method: &'static str,
) -> ToolEntry {
    let mut t = Tool::new(name.to_owned(), "d".to_owned(), Arc::new(JsonObject::new()));
    if read_only.is_some() || destructive.is_some() {
        let mut a = ToolAnnotations::default();
        a.read_only_hint = read_only;
        a.destructive_hint = destructive;
        t.annotations = Some(a);
    }
    ToolEntry {
        tool: t,
        source: Arc::from("todo"),
        handler: Arc::new(Nothing),
        meta: ToolMeta {
            tags: tags
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into(),
            http_method: Some(method),
            ..ToolMeta::default()
        },
    }
}

fn policy(yaml: serde_json::Value) -> Policy {
    let config: AuthorizationConfig = serde_json::from_value(yaml).unwrap();
    Policy::compile(&config, true).unwrap()
}

fn principal(scopes: &[&str], roles: &[&str]) -> Principal {
    let mut p = Principal::new(
        "alice",
        scopes.iter().map(|s| s.to_string()).collect(),
        AuthMethod::Jwt,
    );
    p.roles = roles.iter().map(|s| s.to_string()).collect();
    p
}

fn allowed(p: &Policy, who: Option<&Principal>, e: &ToolEntry) -> bool {
    p.decide(&p.grant(who), &Item::Tool(e)).allowed
}

#[test]
fn globs_tags_methods_and_annotations_select_tools() {
    let p = policy(json!({"rules": [
        {"name": "glob", "principals": {"roles": ["g"]}, "tools": {"names": ["list_*", "get_{task,user}"]}},
        {"name": "tag", "principals": {"roles": ["t"]}, "tools": {"tags": ["admin"]}},
        {"name": "method", "principals": {"roles": ["m"]}, "tools": {"methods": ["post", "PUT"]}},
        {"name": "ro", "principals": {"roles": ["r"]}, "tools": {"read_only": true}},
        {"name": "destructive", "principals": {"roles": ["d"]}, "tools": {"destructive": true}},
    ]}));
    let list = tool("list_tasks", Some(true), None, &[], "GET");
    let get = tool("get_task", Some(true), None, &[], "GET");
    let create = tool("create_task", Some(false), Some(false), &["tasks"], "POST");
    let delete = tool("delete_task", None, None, &["admin"], "DELETE");
    let g = principal(&[], &["g"]);
    assert!(allowed(&p, Some(&g), &list) && allowed(&p, Some(&g), &get));
    assert!(!allowed(&p, Some(&g), &create));
    let t = principal(&[], &["t"]);
    assert!(allowed(&p, Some(&t), &delete) && !allowed(&p, Some(&t), &list));
    let m = principal(&[], &["m"]);
    assert!(allowed(&p, Some(&m), &create) && !allowed(&p, Some(&m), &delete));
    let r = principal(&[], &["r"]);
    assert!(allowed(&p, Some(&r), &list) && !allowed(&p, Some(&r), &create));
    // destructiveHint defaults to true for a tool that is not read-only.
    let d = principal(&[], &["d"]);
    assert!(allowed(&p, Some(&d), &delete));
    assert!(!allowed(&p, Some(&d), &create) && !allowed(&p, Some(&d), &list));
}

#[test]
fn deny_wins_and_nothing_is_allowed_by_default() {
    let p = policy(json!({"rules": [
        {"name": "all", "principals": {"scopes": ["todo"]}, "tools": {}},
        {"name": "no-delete", "effect": "deny", "principals": {"scopes": ["todo"]}, "tools": {"names": ["delete_*"]}},
    ]}));
    let delete = tool("delete_task", None, None, &[], "DELETE");
    let list = tool("list_tasks", Some(true), None, &[], "GET");
    let who = principal(&["todo"], &[]);
    let d = p.decide(&p.grant(Some(&who)), &Item::Tool(&delete));
    assert_eq!(
        (d.allowed, d.reason, d.rule.as_deref()),
        (false, "deny_rule", Some("no-delete"))
    );
    let d = p.decide(&p.grant(Some(&who)), &Item::Tool(&list));
    assert_eq!((d.allowed, d.rule.as_deref()), (true, Some("all")));
    let stranger = principal(&["other"], &[]);
    let d = p.decide(&p.grant(Some(&stranger)), &Item::Tool(&list));
    assert_eq!((d.allowed, d.reason), (false, "no_rule"));
    // Without authentication the anonymous caller gets nothing unless a rule is public...
    assert!(!allowed(&p, None, &list));
}

#[test]
fn scopes_are_all_of_roles_any_of() {
    let p = policy(json!({"rules": [
        {"name": "r", "principals": {"scopes": ["a", "b"], "roles": ["x", "y"]}, "tools": {}},
    ]}));
    let t = tool("t", None, None, &[], "GET");
    assert!(allowed(&p, Some(&principal(&["a", "b"], &["y"])), &t));
    assert!(!allowed(&p, Some(&principal(&["a"], &["y"])), &t));
    assert!(!allowed(&p, Some(&principal(&["a", "b"], &[])), &t));
}

#[test]
fn claims_match_by_dotted_path_and_array_membership() {
    let p = policy(json!({"rules": [
        {"name": "c", "principals": {"claims": {"realm_access.roles": "ops", "tenant": "acme"}}, "tools": {}},
    ]}));
    let t = tool("t", None, None, &[], "GET");
    let mut who = principal(&[], &[]);
    who.claims = Arc::new(
        json!({"realm_access": {"roles": ["dev", "ops"]}, "tenant": "acme"})
            .as_object()
            .unwrap()
            .clone(),
    );
    assert!(allowed(&p, Some(&who), &t));
    who.claims = Arc::new(
        json!({"realm_access": {"roles": ["dev"]}, "tenant": "acme"})
            .as_object()
            .unwrap()
            .clone(),
    );
    assert!(!allowed(&p, Some(&who), &t));
    who.claims = Arc::new(json!({"tenant": "acme"}).as_object().unwrap().clone());
    assert!(!allowed(&p, Some(&who), &t));
}

#[test]
fn public_rules_open_to_everyone_and_unauthenticated_default_allows_all() {
    let config: AuthorizationConfig = serde_json::from_value(json!({"rules": [
        {"name": "public", "principals": {"any": true}, "tools": {"names": ["ping"]}},
    ]}))
    .unwrap();
    let ping = tool("ping", Some(true), None, &[], "GET");
    let other = tool("other", Some(true), None, &[], "GET");
    let on = Policy::compile(&config, true).unwrap();
    assert!(allowed(&on, None, &ping) && !allowed(&on, None, &other));
    let off = Policy::compile(&config, false).unwrap();
    assert_eq!(off.grant(None), Grant::All);
    assert!(allowed(&off, None, &other));
    let mut strict = config.clone();
    strict.unauthenticated = super::super::config::Unauthenticated::Rules;
    let strict = Policy::compile(&strict, false).unwrap();
    assert!(allowed(&strict, None, &ping) && !allowed(&strict, None, &other));
}

#[test]
fn resource_globs_cross_slashes_and_sources_filter() {
    let p = policy(json!({"rules": [
        {"name": "r", "principals": {"roles": ["x"]}, "resources": {"uris": ["todo://tasks/*"], "sources": ["todo"]}},
    ]}));
    let g = p.grant(Some(&principal(&[], &["x"])));
    let ok = |uri, source| p.decide(&g, &Item::Resource { uri, source }).allowed;
    assert!(ok("todo://tasks/{id}", "todo"));
    assert!(ok("todo://tasks/1/notes", "todo"));
    assert!(!ok("todo://users/1", "todo"));
    assert!(!ok("todo://tasks/1", "other"));
}

#[test]
fn bad_configs_are_errors_with_paths() {
    let config: AuthorizationConfig = serde_json::from_value(json!({"rules": [
        {"name": "a", "principals": {}, "tools": {"names": ["ok", "bad[glob"]}},
        {"name": "a", "principals": {"any": true, "scopes": ["s"]}},
    ]}))
    .unwrap();
    let errors = Policy::compile(&config, true).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "authorization.rules[0].principals",
            "authorization.rules[0].tools.names[1]",
            "authorization.rules[1].name",
            "authorization.rules[1]",
            "authorization.rules[1].principals",
        ],
        "{errors:?}"
    );
    assert!(
        errors[1].message.contains("bad[glob"),
        "{}",
        errors[1].message
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let r: Result<AuthorizationConfig, _> = serde_json::from_value(
        json!({"rules": [{"name": "a", "principals": {"any": true}, "tool": {}}]}),
    );
    assert!(r.is_err());
}

/// Every `authorization:` snippet in docs/auth.md and the example role matrix compile.
#[test]
fn the_documented_rules_compile() {
    let doc = include_str!("../../../../docs/auth.md");
    let example = include_str!("../../../../examples/configs/authz-roles.yaml");
    let mut checked = 0;
    let blocks = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default())
        .chain([example]);
    for yaml in blocks {
        let value: serde_json::Value = serde_norway::from_str(yaml).unwrap();
        let Some(section) = value.get("authorization") else {
            continue;
        };
        let config: AuthorizationConfig =
            serde_json::from_value(section.clone()).unwrap_or_else(|e| panic!("{e} in\n{yaml}"));
        if let Err(e) = Policy::compile(&config, true) {
            panic!("{e:?} in\n{yaml}");
        }
        checked += 1;
    }
    assert!(checked >= 2, "{checked} snippets");
}
