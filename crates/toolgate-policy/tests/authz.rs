//! The authorization layer as `stack::build_with` assembles it: filtered and paginated
//! listings computed once per grant (a 1,200-tool catalog), hidden targets answered exactly
//! as unknown ones, decisions counted with bounded labels, and the audit log.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Resource, Tool, ToolAnnotations};
use serde_json::json;
use toolgate_core::catalog::{Catalog, ResourceEntry, shared};
use toolgate_core::{
    AuthMethod, CallContext, GatewayError, McpCall, McpRequest, McpResponse, Principal,
    SharedCatalog, ToolEntry, ToolError, ToolHandler, ToolMeta, wire,
};
use toolgate_policy::audit::{AuditLog, AuditTarget};
use toolgate_policy::authz::{Authorization, AuthorizationConfig, Policy};
use toolgate_policy::stack::{Policies, build_with};
use toolgate_policy::{Metrics, stack};
use tower::ServiceExt as _;

struct Ok_;
impl ToolHandler for Ok_ {
    fn call(
        &self,
        _: &CallContext,
        _: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        Box::pin(async { Ok(CallToolResult::success(vec![ContentBlock::text("ok")])) })
    }
    fn read(
        &self,
        _: &CallContext,
        uri: &str,
        _: JsonObject,
    ) -> BoxFuture<'static, Result<Vec<rmcp::model::ResourceContents>, ToolError>> {
        let uri = uri.to_owned();
        Box::pin(async move { Ok(vec![rmcp::model::ResourceContents::text("x", uri)]) })
    }
}

const TOOLS: usize = 1_200;

/// `TOOLS` tools: `read_N` (read-only) for even N, `write_N` for odd N; two resources.
fn catalog(page_size: Option<usize>) -> Catalog {
    let mut b = Catalog::builder().page_size(page_size);
    for i in 0..TOOLS {
        let read = i % 2 == 0;
        let mut tool = Tool::new(
            if read {
                format!("read_{i:04}")
            } else {
                format!("write_{i:04}")
            },
            "d".to_owned(),
            Arc::new(JsonObject::new()),
        );
        let mut a = ToolAnnotations::default();
        a.read_only_hint = Some(read);
        tool.annotations = Some(a);
        b.add_tool(ToolEntry {
            tool,
            source: Arc::from("api"),
            handler: Arc::new(Ok_),
            meta: ToolMeta {
                tags: Arc::from(vec![if read {
                    "reads".to_owned()
                } else {
                    "writes".to_owned()
                }]),
                http_method: Some(if read { "GET" } else { "POST" }),
                ..ToolMeta::default()
            },
        })
        .unwrap();
    }
    for uri in ["docs://public", "docs://secret"] {
        b.add_resource(ResourceEntry {
            resource: Resource::new(uri.to_owned(), uri.to_owned()),
            source: Arc::from("api"),
            handler: Arc::new(Ok_),
        })
        .unwrap();
    }
    b.build()
}

fn authz(metrics: &Arc<Metrics>) -> Arc<Authorization> {
    let config: AuthorizationConfig = serde_json::from_value(json!({"rules": [
        {"name": "readers", "principals": {"scopes": ["read"]}, "tools": {"read_only": true},
         "resources": {"uris": ["docs://public"]}},
        {"name": "writers", "principals": {"scopes": ["write"]}, "tools": {"methods": ["POST"]}},
    ]}))
    .unwrap();
    Authorization::new(
        Policy::compile(&config, true).unwrap(),
        Some(metrics.clone()),
    )
}

fn who(subject: &str, scopes: &[&str]) -> Option<Arc<Principal>> {
    Some(Arc::new(Principal::new(
        subject,
        scopes.iter().map(|s| s.to_string()).collect(),
        AuthMethod::Jwt,
    )))
}

async fn run(
    pipeline: &toolgate_core::Pipeline,
    principal: Option<Arc<Principal>>,
    request: McpRequest,
) -> Result<McpResponse, GatewayError> {
    let mut ctx = CallContext::in_process();
    ctx.principal = principal;
    pipeline.clone().oneshot(McpCall::new(ctx, request)).await
}

async fn list_all(
    pipeline: &toolgate_core::Pipeline,
    principal: Option<Arc<Principal>>,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        match run(
            pipeline,
            principal.clone(),
            McpRequest::ListTools { cursor },
        )
        .await
        {
            Ok(McpResponse::Tools(r)) => {
                names.extend(r.tools.iter().map(|t| t.name.to_string()));
                match r.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return names,
                }
            }
            other => panic!("{other:?}"),
        }
    }
}

fn pipeline(
    catalog: &SharedCatalog,
    metrics: &Arc<Metrics>,
    authz: &Arc<Authorization>,
) -> toolgate_core::Pipeline {
    build_with(
        catalog.clone(),
        metrics.clone(),
        Policies {
            authz: Some(authz.clone()),
            audit: None,
            ..Policies::default()
        },
    )
}

#[tokio::test]
async fn listings_are_filtered_paginated_and_computed_once_per_grant() {
    let catalog = shared(catalog(Some(100)));
    let metrics = Metrics::new();
    let authz = authz(&metrics);
    let p = pipeline(&catalog, &metrics, &authz);
    let reader = list_all(&p, who("r1", &["read"])).await;
    assert_eq!(reader.len(), TOOLS / 2);
    assert!(reader.iter().all(|n| n.starts_with("read_")));
    assert!(reader.windows(2).all(|w| w[0] < w[1]), "catalog order");
    let both = list_all(&p, who("rw", &["read", "write"])).await;
    assert_eq!(both.len(), TOOLS);
    let nobody = list_all(&p, who("n", &["other"])).await;
    assert!(nobody.is_empty());
    let computed = authz.visible_computations();
    assert_eq!(computed, 3, "one visible set per distinct grant");
    // Many more listings, by other subjects with the same rules: no recomputation.
    for i in 0..50 {
        let again = list_all(&p, who(&format!("reader-{i}"), &["read", "unrelated"])).await;
        assert_eq!(again, reader);
    }
    assert_eq!(authz.visible_computations(), computed);
    // A new catalog (reload, list_changed) invalidates the sets.
    catalog.store(Arc::new(self::catalog(Some(100))));
    assert_eq!(list_all(&p, who("r1", &["read"])).await, reader);
    assert_eq!(authz.visible_computations(), computed + 1);
}

#[tokio::test]
async fn a_hidden_target_answers_exactly_as_an_unknown_one() {
    let catalog = shared(catalog(None));
    let metrics = Metrics::new();
    let authz = authz(&metrics);
    let p = pipeline(&catalog, &metrics, &authz);
    let reader = who("r1", &["read"]);
    let call = |name: &str| McpRequest::CallTool {
        name: name.to_owned(),
        arguments: JsonObject::new(),
    };
    let wire_of = |r: Result<McpResponse, GatewayError>| match r {
        Err(e) => serde_json::to_string(&wire::gateway_error_data(&e)).unwrap(),
        Ok(other) => panic!("{other:?}"),
    };
    // A tool that exists but is hidden, and one that does not exist, with names of equal
    // shape so the answers can be compared after swapping the name.
    let hidden = wire_of(run(&p, reader.clone(), call("write_0001")).await);
    let unknown = wire_of(run(&p, reader.clone(), call("write_9999")).await);
    assert_eq!(hidden.replace("write_0001", "write_9999"), unknown);
    // The same holds against a gateway without authorization at all.
    let open = stack::build(catalog.clone(), Metrics::new());
    assert_eq!(unknown, wire_of(run(&open, None, call("write_9999")).await));
    assert!(matches!(
        run(&p, reader.clone(), call("read_0000")).await,
        Ok(McpResponse::ToolResult(Ok(_)))
    ));
    // Resources: hidden vs missing.
    let read = |uri: &str| McpRequest::ReadResource {
        uri: uri.to_owned(),
    };
    let hidden = wire_of(run(&p, reader.clone(), read("docs://secret")).await);
    let unknown = wire_of(run(&p, reader.clone(), read("docs://sekret")).await);
    assert_eq!(hidden.replace("docs://secret", "docs://sekret"), unknown);
    assert!(matches!(
        run(&p, reader.clone(), read("docs://public")).await,
        Ok(McpResponse::Resource(Ok(_)))
    ));
    match run(&p, reader, McpRequest::ListResources { cursor: None }).await {
        Ok(McpResponse::Resources(r)) => {
            let uris: Vec<_> = r.resources.iter().map(|r| r.uri.as_str()).collect();
            assert_eq!(uris, ["docs://public"]);
        }
        other => panic!("{other:?}"),
    }
    // Decisions are counted by outcome and reason, never by the requested name (a name the
    // catalog does not have never becomes a label; a hidden tool counts under its catalog
    // name in `toolgate_calls_total`, a bounded label operators want to see).
    let text = metrics.encode();
    assert!(
        text.contains(r#"toolgate_authz_decisions_total{outcome="denied",reason="no_rule"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"toolgate_authz_decisions_total{outcome="allowed",reason="rule"} 2"#),
        "{text}"
    );
    assert!(
        !text.contains("write_9999") && !text.contains("docs://"),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.starts_with("toolgate_authz"))
            .all(|l| !l.contains("write_") && !l.contains("tool=")),
        "{text}"
    );
}

#[tokio::test]
async fn the_audit_log_records_who_called_what_and_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let catalog = shared(catalog(None));
    let metrics = Metrics::new();
    let authz = authz(&metrics);
    let audit = AuditLog::open(&AuditTarget::File(path.clone())).unwrap();
    let p = build_with(
        catalog.clone(),
        metrics.clone(),
        Policies {
            authz: Some(authz),
            audit: Some(audit.clone()),
            ..Policies::default()
        },
    );
    let mut reader = Principal::new(
        "reader@example.com",
        vec!["read".to_owned()],
        AuthMethod::Jwt,
    );
    reader.credential = Some(toolgate_core::Credential::new("canary-token-value"));
    let reader = Some(Arc::new(reader));
    let call = |name: &str| McpRequest::CallTool {
        name: name.to_owned(),
        arguments: JsonObject::new(),
    };
    run(&p, reader.clone(), call("read_0000")).await.unwrap();
    run(&p, reader.clone(), call("write_0001"))
        .await
        .unwrap_err();
    run(&p, None, McpRequest::ListTools { cursor: None })
        .await
        .unwrap();
    audit.sync();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(!text.contains("canary-token-value"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields = |v: &serde_json::Value| {
        (
            v["subject"].clone(),
            v["auth_method"].clone(),
            v["mcp_method"].clone(),
            v["target"].clone(),
            v["decision"].clone(),
            v["rule"].clone(),
            v["outcome"].clone(),
        )
    };
    assert_eq!(
        fields(&lines[0]),
        (
            json!("reader@example.com"),
            json!("jwt"),
            json!("tools/call"),
            json!("read_0000"),
            json!("allowed"),
            json!("readers"),
            json!("ok")
        )
    );
    assert_eq!(
        fields(&lines[1]),
        (
            json!("reader@example.com"),
            json!("jwt"),
            json!("tools/call"),
            json!("write_0001"),
            json!("denied"),
            json!(null),
            json!("unknown_tool")
        )
    );
    assert_eq!(lines[2]["subject"], json!(null));
    assert_eq!(lines[2]["mcp_method"], json!("tools/list"));
    for l in &lines {
        assert!(l["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{l}");
        assert!(
            l["correlation_id"].as_str().is_some_and(|c| !c.is_empty()),
            "{l}"
        );
        assert!(l["latency_ms"].is_number(), "{l}");
        assert_eq!(l["transport"], json!("in_process"));
    }
}

struct Prompts;
impl toolgate_core::PromptHandler for Prompts {
    fn get(
        &self,
        _: &CallContext,
        _: JsonObject,
    ) -> BoxFuture<'static, Result<rmcp::model::GetPromptResult, ToolError>> {
        Box::pin(async { Ok(rmcp::model::GetPromptResult::new(vec![])) })
    }
    fn complete(
        &self,
        _: &CallContext,
        _: rmcp::model::ArgumentInfo,
        _: Option<rmcp::model::CompletionContext>,
    ) -> BoxFuture<'static, Result<rmcp::model::CompleteResult, ToolError>> {
        Box::pin(async {
            Ok(rmcp::model::CompleteResult::new(
                rmcp::model::CompletionInfo::new(vec!["secret-value".to_owned()]).unwrap(),
            ))
        })
    }
}

#[tokio::test]
async fn prompts_and_their_completions_are_hidden_like_unknown_ones() {
    let mut b = Catalog::builder();
    for name in ["summary", "admin_report"] {
        b.add_prompt(toolgate_core::PromptEntry {
            prompt: rmcp::model::Prompt::new(name, None::<String>, None),
            source: Arc::from("prompts"),
            handler: Arc::new(Prompts),
        })
        .unwrap();
    }
    let catalog = shared(b.build());
    let config: AuthorizationConfig = serde_json::from_value(json!({"rules": [
        {"name": "everyone", "principals": {"any": true}, "prompts": {"names": ["summary"]}},
    ]}))
    .unwrap();
    let metrics = Metrics::new();
    let authz = Authorization::new(Policy::compile(&config, true).unwrap(), None);
    let p = pipeline(&catalog, &metrics, &authz);
    let user = who("u", &[]);
    match run(&p, user.clone(), McpRequest::ListPrompts { cursor: None }).await {
        Ok(McpResponse::Prompts(r)) => {
            let names: Vec<_> = r.prompts.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["summary"]);
        }
        other => panic!("{other:?}"),
    }
    let get = |name: &str| McpRequest::GetPrompt {
        name: name.to_owned(),
        arguments: JsonObject::new(),
    };
    let hidden = run(&p, user.clone(), get("admin_report"))
        .await
        .unwrap_err();
    let unknown = run(&p, user.clone(), get("admin_rep0rt"))
        .await
        .unwrap_err();
    assert_eq!(
        hidden.to_string().replace("admin_report", "admin_rep0rt"),
        unknown.to_string()
    );
    assert!(run(&p, user.clone(), get("summary")).await.is_ok());
    let complete = |name: &str| McpRequest::Complete {
        reference: rmcp::model::Reference::for_prompt(name),
        argument: rmcp::model::ArgumentInfo::new("a", "s"),
        context: None,
    };
    let values = |r: Result<McpResponse, GatewayError>| match r {
        Ok(McpResponse::Completion(Ok(c))) => c.completion.values,
        other => panic!("{other:?}"),
    };
    assert!(values(run(&p, user.clone(), complete("admin_report")).await).is_empty());
    assert!(values(run(&p, user.clone(), complete("nope")).await).is_empty());
    assert_eq!(
        values(run(&p, user, complete("summary")).await),
        ["secret-value"]
    );
}
