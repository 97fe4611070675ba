//! Meta-tool mode through the pipeline `stack::build_with` assembles: the listing, search and
//! describe filtered by authorization (a caller never finds a tool it may not call, and a
//! hidden name answers exactly as a missing one), and `call_tool` running the real tool
//! through the same policies, logs and metrics as a direct call.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Value, json};
use toolgate_core::catalog::{Catalog, shared};
use toolgate_core::{
    AuthMethod, CallContext, GatewayError, McpCall, McpRequest, McpResponse, Principal,
    SharedCatalog, ToolEntry, ToolError, ToolErrorKind, ToolHandler, ToolMeta, ToolMode, ToolView,
};
use toolgate_policy::Metrics;
use toolgate_policy::authz::{Authorization, AuthorizationConfig, Policy};
use toolgate_policy::meta::MetaTools;
use toolgate_policy::stack::{Policies, build_with};
use tower::ServiceExt as _;

/// Answers with its own name, so a test sees which tool really ran.
struct Named(&'static str);
impl ToolHandler for Named {
    fn call(
        &self,
        _: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        let text = format!("{} {}", self.0, Value::Object(arguments));
        Box::pin(async move { Ok(CallToolResult::success(vec![ContentBlock::text(text)])) })
    }
}

const TOOLS: &[(&str, &str, &str, &str)] = &[
    (
        "issues_create",
        "Create an issue",
        "POST",
        "/repos/{owner}/{repo}/issues",
    ),
    (
        "issues_list_for_repo",
        "List repository issues",
        "GET",
        "/repos/{owner}/{repo}/issues",
    ),
    (
        "repos_delete",
        "Delete a repository",
        "DELETE",
        "/repos/{owner}/{repo}",
    ),
    (
        "repos_get",
        "Get a repository",
        "GET",
        "/repos/{owner}/{repo}",
    ),
];

fn catalog(view: ToolView) -> SharedCatalog {
    let mut b = Catalog::builder().tool_view(Some(Arc::new(view)));
    for (name, title, method, path) in TOOLS {
        let mut tool = Tool::new(*name, format!("{title}."), Arc::new(JsonObject::new()));
        tool.title = Some((*title).to_owned());
        b.add_tool(ToolEntry {
            tool,
            source: Arc::from("github"),
            handler: Arc::new(Named(name)),
            meta: ToolMeta {
                tags: Arc::from(vec![]),
                http_method: Some(method),
                path: Some(Arc::from(*path)),
            },
        })
        .unwrap();
    }
    shared(b.build())
}

fn meta_view() -> ToolView {
    ToolView {
        mode: ToolMode::Meta,
        auto_threshold: 100,
        pinned: vec!["repos_get".to_owned()],
        sources: Vec::new(),
    }
}

/// Readers may use GET operations; writers everything.
fn authz(metrics: &Arc<Metrics>) -> Arc<Authorization> {
    let config: AuthorizationConfig = serde_json::from_value(json!({"rules": [
        {"name": "readers", "principals": {"scopes": ["read"]}, "tools": {"methods": ["GET"]}},
        {"name": "writers", "principals": {"scopes": ["write"]}, "tools": {"names": ["*"]}},
    ]}))
    .unwrap();
    Authorization::new(
        Policy::compile(&config, true).unwrap(),
        Some(metrics.clone()),
    )
}

fn who(scope: &str) -> Option<Arc<Principal>> {
    Some(Arc::new(Principal::new(
        format!("{scope}-user"),
        vec![scope.to_owned()],
        AuthMethod::Jwt,
    )))
}

struct Gateway {
    pipeline: toolgate_core::Pipeline,
    metrics: Arc<Metrics>,
}

fn gateway(view: ToolView) -> Gateway {
    let metrics = Metrics::new();
    let authz = authz(&metrics);
    let pipeline = build_with(
        catalog(view),
        metrics.clone(),
        Policies {
            authz: Some(authz.clone()),
            meta: Some(MetaTools::new(Some(authz))),
            ..Policies::default()
        },
    );
    Gateway { pipeline, metrics }
}

impl Gateway {
    async fn run(
        &self,
        principal: Option<Arc<Principal>>,
        request: McpRequest,
    ) -> Result<McpResponse, GatewayError> {
        let mut ctx = CallContext::in_process();
        ctx.principal = principal;
        self.pipeline
            .clone()
            .oneshot(McpCall::new(ctx, request))
            .await
    }

    async fn list(&self, principal: Option<Arc<Principal>>) -> Vec<String> {
        match self
            .run(principal, McpRequest::ListTools { cursor: None })
            .await
        {
            Ok(McpResponse::Tools(r)) => r.tools.iter().map(|t| t.name.to_string()).collect(),
            other => panic!("{other:?}"),
        }
    }

    async fn call(
        &self,
        principal: Option<Arc<Principal>>,
        name: &str,
        arguments: Value,
    ) -> Result<McpResponse, GatewayError> {
        let request = McpRequest::CallTool {
            name: name.to_owned(),
            arguments: arguments.as_object().cloned().unwrap(),
        };
        self.run(principal, request).await
    }

    /// The structured result of a successful meta-tool call.
    async fn structured(
        &self,
        principal: Option<Arc<Principal>>,
        name: &str,
        arguments: Value,
    ) -> Value {
        match self.call(principal, name, arguments).await {
            Ok(McpResponse::ToolResult(Ok(r))) => r.structured_content.expect("structured"),
            other => panic!("{other:?}"),
        }
    }
}

fn names(found: &Value) -> Vec<&str> {
    found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_listing_is_the_meta_tools_and_the_pinned_tools_the_caller_may_see() {
    let g = gateway(meta_view());
    assert_eq!(
        g.list(who("read")).await,
        ["search_tools", "describe_tool", "call_tool", "repos_get"]
    );
    assert_eq!(
        g.list(who("none")).await,
        ["search_tools", "describe_tool", "call_tool"],
        "a pinned tool the caller may not call is not listed"
    );
}

#[tokio::test]
async fn search_never_finds_a_tool_the_caller_may_not_call() {
    let g = gateway(meta_view());
    let writer = g
        .structured(
            who("write"),
            "search_tools",
            json!({"query": "open a new issue"}),
        )
        .await;
    assert_eq!(names(&writer)[0], "issues_create", "{writer}");
    assert!(
        writer["tools"][0]["matched"]
            .as_str()
            .unwrap()
            .contains("issue: name"),
        "{writer}"
    );
    assert!(
        writer["tools"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("POST /repos")
    );
    for query in ["open a new issue", "issues_create", "delete"] {
        let reader = g
            .structured(
                who("read"),
                "search_tools",
                json!({"query": query, "limit": 50}),
            )
            .await;
        let found = names(&reader);
        assert!(
            !found.contains(&"issues_create") && !found.contains(&"repos_delete"),
            "{query}: {reader}"
        );
    }
    let nobody = g
        .structured(who("none"), "search_tools", json!({"query": "repository"}))
        .await;
    assert!(names(&nobody).is_empty(), "{nobody}");
    assert!(
        nobody["hint"].as_str().unwrap().contains("no tool matches"),
        "{nobody}"
    );
}

#[tokio::test]
async fn describing_a_hidden_tool_answers_exactly_as_a_missing_one() {
    let g = gateway(meta_view());
    let shown = g
        .structured(
            who("read"),
            "describe_tool",
            json!({"names": ["repos_get", "issues_create"]}),
        )
        .await;
    assert_eq!(names(&shown), ["repos_get"]);
    assert_eq!(shown["tools"][0]["inputSchema"], json!({}));
    assert_eq!(shown["unknown"], json!(["issues_create"]));
    let text = |r: Result<McpResponse, GatewayError>, name: &str| match r {
        Ok(McpResponse::ToolResult(Err(e))) => e.message.replace(name, "NAME"),
        other => panic!("{other:?}"),
    };
    let hidden = text(
        g.call(
            who("read"),
            "describe_tool",
            json!({"names": ["issues_create"]}),
        )
        .await,
        "issues_create",
    );
    let missing = text(
        g.call(
            who("read"),
            "describe_tool",
            json!({"names": ["no_such_tool"]}),
        )
        .await,
        "no_such_tool",
    );
    assert_eq!(hidden, missing);
}

#[tokio::test]
async fn call_tool_runs_the_real_tool_through_the_same_policies_and_metrics() {
    let g = gateway(meta_view());
    match g
        .call(
            who("read"),
            "call_tool",
            json!({"name": "issues_list_for_repo", "arguments": {"owner": "o"}}),
        )
        .await
    {
        Ok(McpResponse::ToolResult(Ok(r))) => {
            let text = format!("{:?}", r.content);
            assert!(
                text.contains(r#"issues_list_for_repo {\"owner\":\"o\"}"#),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A tool the caller may not call is refused exactly as when called directly.
    let via_meta = g
        .call(
            who("read"),
            "call_tool",
            json!({"name": "issues_create", "arguments": {}}),
        )
        .await;
    let direct = g.call(who("read"), "issues_create", json!({})).await;
    assert_eq!(format!("{via_meta:?}"), format!("{direct:?}"));
    assert!(matches!(via_meta, Err(GatewayError::UnknownTool(ref n)) if n == "issues_create"));
    let metrics = g.metrics.encode();
    assert!(
        metrics.contains(r#"toolgate_calls_total{method="tools/call",tool="issues_list_for_repo",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"tool="call_tool""#), "{metrics}");
    assert!(
        metrics.contains(r#"toolgate_authz_decisions_total"#),
        "authorization decided the inner call: {metrics}"
    );
}

#[tokio::test]
async fn bad_meta_tool_arguments_get_precise_errors() {
    let g = gateway(meta_view());
    for (tool, args, says) in [
        ("call_tool", json!({}), "`name` is required"),
        (
            "call_tool",
            json!({"name": "repos_get", "arguments": 3}),
            "`arguments` must be an object",
        ),
        ("search_tools", json!({}), "`query` is required"),
        (
            "search_tools",
            json!({"query": "x", "limit": 0}),
            "`limit` must be an integer from 1 to 50",
        ),
        (
            "search_tools",
            json!({"query": "x", "top": 3}),
            "unknown argument `top`",
        ),
        ("describe_tool", json!({"names": []}), "`names` is required"),
    ] {
        match g.call(who("write"), tool, args.clone()).await {
            Ok(McpResponse::ToolResult(Err(e))) => {
                assert_eq!(e.kind, ToolErrorKind::InvalidArguments, "{args}");
                assert!(e.message.contains(says), "{tool} {args}: {}", e.message);
            }
            other => panic!("{tool} {args}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn auto_mode_lists_everything_below_its_threshold_and_meta_tools_above() {
    let small = gateway(ToolView {
        mode: ToolMode::Auto,
        auto_threshold: 10,
        ..meta_view()
    });
    assert_eq!(small.list(who("write")).await.len(), TOOLS.len());
    let big = gateway(ToolView {
        mode: ToolMode::Auto,
        auto_threshold: 3,
        ..meta_view()
    });
    assert_eq!(
        big.list(who("write")).await.len(),
        4,
        "three meta-tools and one pinned"
    );
    // In full mode `call_tool` is not a meta-tool: just an unknown name.
    let full = gateway(ToolView {
        mode: ToolMode::Full,
        ..meta_view()
    });
    assert!(matches!(
        full.call(who("write"), "call_tool", json!({"name": "repos_get"}))
            .await,
        Err(GatewayError::UnknownTool(_))
    ));
}
