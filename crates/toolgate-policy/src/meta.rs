//! The meta-tool layer: serves `tools/list`, `search_tools` and `describe_tool` in meta-tool
//! mode (`toolgate_core::meta`), each filtered to what the caller may see.
//!
//! It sits below metrics and the call log (they see these calls, labelled with the
//! meta-tool's name) and above authorization, whose visible set (computed once per grant and
//! catalog, `authz::cache`) it reads through `Authorization`'s public API: a caller never
//! finds, or gets the schema of, a tool it may not call, and a hidden name is answered
//! exactly as a missing one. Like the listings authorization answers, these are not rate
//! limited. `call_tool` never reaches this layer as such: the Resolve step turned it into a
//! call of the tool it names, which goes on down the pipeline like a direct call.
//!
//! The search index is built once per catalog version, on the first search (GitHub's 1,223
//! tools: a few milliseconds), and dropped with that catalog.
//!
//! Does not own: ranking (`toolgate-search`), which tools are listed directly (the catalog's
//! `MetaState`), or the authorization rules.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use rmcp::model::{CallToolResult, JsonObject, ListToolsResult, Tool};
use serde_json::{Value, json};
use toolgate_core::meta::{MetaState, MetaTool, call_problem};
use toolgate_core::{
    Catalog, Decision, GatewayError, McpCall, McpRequest, McpResponse, ToolError, ToolErrorKind,
};
use toolgate_search::{ToolDoc, ToolIndex};
use tower::{Layer, Service};

use crate::authz::{Authorization, Visible};

/// Results of one search at most, and its default.
pub const MAX_LIMIT: u64 = 50;
/// Results of a search that gives no `limit`.
pub const DEFAULT_LIMIT: u64 = 10;
/// Tools one `describe_tool` call describes at most.
pub const MAX_DESCRIBE: usize = 20;

/// What the layer shares between calls: the authorization it filters by and the search
/// index of the current catalog.
pub struct MetaTools {
    authz: Option<Arc<Authorization>>,
    /// The index of each live catalog (the main one and each virtual server's view).
    index: Mutex<Vec<(Weak<Catalog>, Arc<ToolIndex>)>>,
}

/// Search indexes kept at once (one per live catalog: the main one and each endpoint's).
const MAX_INDEXES: usize = 64;

impl MetaTools {
    /// Serves the meta-tools, filtering by `authz` (the one the pipeline enforces) if any.
    pub fn new(authz: Option<Arc<Authorization>>) -> Arc<Self> {
        Arc::new(MetaTools {
            authz,
            index: Mutex::new(Vec::new()),
        })
    }

    /// The search index of `catalog`, built on first use.
    pub fn index(&self, catalog: &Arc<Catalog>) -> Arc<ToolIndex> {
        {
            let cached = self.index.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, index)) = cached
                .iter()
                .find(|(c, _)| c.as_ptr() == Arc::as_ptr(catalog))
            {
                return index.clone();
            }
        }
        // Built outside the lock; two first searches racing may both build it.
        let index = Arc::new(index_of(catalog));
        let mut cached = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        // An index of a catalog nobody holds any more will never be used again.
        cached.retain(|(c, _)| c.strong_count() > 0 && c.as_ptr() != Arc::as_ptr(catalog));
        if cached.len() >= MAX_INDEXES {
            cached.clear();
        }
        cached.push((Arc::downgrade(catalog), index.clone()));
        index
    }

    /// What the caller of `call` may see of `catalog` (`None`: everything).
    fn visible(&self, call: &McpCall, catalog: &Arc<Catalog>) -> Option<Arc<Visible>> {
        let authz = self.authz.as_ref()?;
        let grant = authz.policy().grant(call.ctx.principal.as_deref());
        Some(authz.visible(&grant, catalog))
    }
}

/// The search index of a catalog's tools.
pub fn index_of(catalog: &Catalog) -> ToolIndex {
    ToolIndex::build(catalog.tools().iter().map(|e| {
        ToolDoc::of_tool(
            &e.tool,
            &e.meta.tags,
            e.meta.http_method,
            e.meta.path.as_deref(),
        )
    }))
}

/// Adds the meta-tools to the pipeline.
#[derive(Clone)]
pub struct MetaLayer {
    meta: Arc<MetaTools>,
}

impl MetaLayer {
    /// Serves `meta`.
    pub fn new(meta: Arc<MetaTools>) -> Self {
        MetaLayer { meta }
    }
}

impl<S> Layer<S> for MetaLayer {
    type Service = MetaService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetaService {
            inner,
            meta: self.meta.clone(),
        }
    }
}

/// Service produced by [`MetaLayer`].
#[derive(Clone)]
pub struct MetaService<S> {
    inner: S,
    meta: Arc<MetaTools>,
}

type Answer = Ready<Result<McpResponse, GatewayError>>;

impl<S> Service<McpCall> for MetaService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = Either<Answer, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let Some(resolved) = call.resolved.as_ref() else {
            return Either::Right(self.inner.call(call));
        };
        let catalog = resolved.catalog().clone();
        let Some(state) = catalog.meta() else {
            return Either::Right(self.inner.call(call));
        };
        let answer = match (&call.request, resolved.meta_tool()) {
            (McpRequest::ListTools { cursor }, _) => {
                let visible = self.meta.visible(&call, &catalog);
                list(&catalog, state, visible.as_deref(), cursor.as_deref())
            }
            (McpRequest::CallTool { arguments, .. }, Some(tool)) => {
                let visible = self.meta.visible(&call, &catalog);
                let admit = |p: usize| {
                    visible
                        .as_ref()
                        .is_none_or(|v| v.tools.binary_search(&p).is_ok())
                };
                let outcome = match tool {
                    MetaTool::Search => search(&self.meta, &catalog, arguments, admit),
                    MetaTool::Describe => describe(&catalog, arguments, admit),
                    MetaTool::Call => Err(invalid(
                        call_problem(arguments)
                            .unwrap_or_else(|| "`name` must name a tool".to_owned()),
                        "call_tool",
                    )),
                };
                Ok(McpResponse::ToolResult(outcome))
            }
            _ => return Either::Right(self.inner.call(call)),
        };
        // Answered here like a listing: recorded for the call log and audit above.
        if let Some(slot) = &call.decision {
            let _ = slot.set(Decision {
                allowed: true,
                reason: "listing",
                rule: None,
            });
        }
        Either::Left(ready(answer))
    }
}

/// The meta-tools, then the tools listed directly that the caller may see, paged.
fn list(
    catalog: &Catalog,
    state: &MetaState,
    visible: Option<&Visible>,
    cursor: Option<&str>,
) -> Result<McpResponse, GatewayError> {
    let mut tools: Vec<Tool> = state.definitions.to_vec();
    tools.extend(
        state
            .direct
            .iter()
            .filter(|p| visible.is_none_or(|v| v.tools.binary_search(p).is_ok()))
            .filter_map(|&p| catalog.tools().get(p))
            .map(|e| e.tool.clone()),
    );
    let (page, next) = catalog.page(&tools, cursor)?;
    let mut r = ListToolsResult::with_all_items(page.to_vec());
    r.next_cursor = next;
    Ok(McpResponse::Tools(r))
}

/// A failure of the model's arguments to a meta-tool.
fn invalid(message: String, tool: &str) -> ToolError {
    ToolError::new(
        ToolErrorKind::InvalidArguments,
        format!("{tool}: {message}"),
    )
}

/// Rejects arguments other than `allowed`.
fn only(arguments: &JsonObject, allowed: &[&str], tool: &str) -> Result<(), ToolError> {
    match arguments.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(
            format!("unknown argument `{k}`; it takes {}", allowed.join(", ")),
            tool,
        )),
        None => Ok(()),
    }
}

fn search(
    meta: &MetaTools,
    catalog: &Arc<Catalog>,
    arguments: &JsonObject,
    admit: impl Fn(usize) -> bool,
) -> Result<CallToolResult, ToolError> {
    const TOOL: &str = "search_tools";
    only(arguments, &["query", "limit"], TOOL)?;
    let query = match arguments.get("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => q,
        Some(Value::String(_)) | None => {
            return Err(invalid(
                "`query` is required: say in words what you want to do (e.g. \"create an issue\")"
                    .to_owned(),
                TOOL,
            ));
        }
        Some(_) => return Err(invalid("`query` must be a string".to_owned(), TOOL)),
    };
    let limit = match arguments.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(invalid(
                    format!("`limit` must be an integer from 1 to {MAX_LIMIT}, not {v}"),
                    TOOL,
                ));
            }
        },
    };
    let index = meta.index(catalog);
    let hits = index.search(query, limit as usize, admit);
    let tools: Vec<Value> = hits
        .iter()
        .filter_map(|m| {
            let entry = catalog.tools().get(m.position)?;
            Some(json!({
                "name": entry.tool.name,
                "summary": index.summary(m.position),
                "matched": m.why,
            }))
        })
        .collect();
    let mut result = json!({ "tools": tools });
    if hits.is_empty() {
        result["hint"] = json!(
            "no tool matches these words; describe the operation differently (a verb and the thing it acts on, e.g. \"create issue comment\")"
        );
    }
    Ok(CallToolResult::structured(result))
}

fn describe(
    catalog: &Catalog,
    arguments: &JsonObject,
    admit: impl Fn(usize) -> bool,
) -> Result<CallToolResult, ToolError> {
    const TOOL: &str = "describe_tool";
    only(arguments, &["names"], TOOL)?;
    let names: Vec<&str> = match arguments.get("names") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_DESCRIBE => items
            .iter()
            .map(|v| v.as_str())
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("`names` must hold tool names (strings)".to_owned(), TOOL))?,
        _ => {
            return Err(invalid(
                format!(
                    "`names` is required: a list of 1 to {MAX_DESCRIBE} tool names, as search_tools returns them"
                ),
                TOOL,
            ));
        }
    };
    let mut tools = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        // A tool the caller may not see is unknown, with the same text as a missing one.
        match catalog.tool_position(name).filter(|&p| admit(p)) {
            Some(p) => tools.push(
                serde_json::to_value(&catalog.tools()[p].tool)
                    .map_err(|e| ToolError::new(ToolErrorKind::Internal, e.to_string()))?,
            ),
            None => unknown.push(name.to_owned()),
        }
    }
    if tools.is_empty() {
        return Err(ToolError::new(
            ToolErrorKind::InvalidArguments,
            format!(
                "describe_tool: no tool named {}; search_tools finds tools by what they do",
                unknown
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut result = json!({ "tools": tools });
    if !unknown.is_empty() {
        result["unknown"] = json!(unknown);
    }
    Ok(CallToolResult::structured(result))
}
