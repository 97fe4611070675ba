//! The [`Gateway`]: the MCP face of the call pipeline, shared by every transport, and the one
//! request edge where each request's [`CallContext`] is built.
//!
//! A request reaches the pipeline by one of three doors: rmcp's `ServerHandler` methods
//! (`handler.rs`), the HTTP fast path (`http::fast`) and the stdio fast path (`stdio`). All
//! three build their context with [`Gateway::context`] and run the call with
//! [`Gateway::run`], so whatever is decided there (correlation id, the caller's identity,
//! cancellation, which headers a source may forward) holds on every path. "Who may talk to
//! us at all" is decided before that, at the transport (the HTTP guard); "who may call what"
//! after it, in the pipeline's policy layers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{Peer, RoleServer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use toolgate_core::{
    CallContext, Catalog, ClientChannel, CorrelationId, EdgePath, EndpointView, GatewayError,
    ListsChanged, McpCall, McpRequest, McpResponse, Principal, SharedCatalog, SourceCapabilities,
    Transport,
};
use toolgate_policy::live::LivePipeline;
use tower::ServiceExt as _;

use crate::peer::LogLevels;
use crate::tools_json::ToolsJson;
use crate::trace::RequestEdge;

/// Counts calls in progress so shutdown can wait for them.
#[derive(Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Calls currently in progress.
    pub fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves once no call is in progress.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.current() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }
}

struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Identity and instructions the server announces to clients.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// `serverInfo.name`.
    pub name: String,
    /// `serverInfo.version`.
    pub version: String,
    /// Optional `instructions` for the model.
    pub instructions: Option<String>,
}

impl Default for ServerIdentity {
    fn default() -> Self {
        ServerIdentity {
            name: "toolgate".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            instructions: None,
        }
    }
}

/// Computes an extra member of the `/readyz` answer.
pub type ReadinessDetail = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Reloads the configuration for `POST /admin/reload`: whether the new configuration is in
/// force, and the JSON answer (nothing secret in it: it is sent to the caller).
pub type AdminReload =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, (bool, serde_json::Value)> + Send + Sync>;

/// Where a request arrived, as the edge sees it.
pub(crate) enum Arrival<'a> {
    /// Over HTTP: the request's head (headers; extensions holding the client's address and,
    /// once authentication ran, its principal).
    Http(&'a http::request::Parts),
    /// Over stdio: no request head; the caller is whoever started the process.
    Stdio,
}

/// The MCP face of the gateway. Cheap to clone; one per transport.
#[derive(Clone)]
pub struct Gateway {
    /// The pipeline in force and its policies (swapped whole by a reload; each call loads
    /// it once).
    pipeline: LivePipeline,
    catalog: SharedCatalog,
    info: Arc<ServerConfig>,
    transport: Transport,
    in_flight: Arc<InFlight>,
    /// Serialized `tools/list` arrays the fast path reuses.
    tools_json: Arc<ToolsJson>,
    /// Whether calls carry the incoming HTTP headers (only sources that forward headers
    /// need them; copying them on every call costs for nothing otherwise).
    keep_incoming_headers: bool,
    /// The caller of every stdio request (stdio has no authentication: the MCP authorization
    /// specification leaves it to the environment).
    stdio_principal: Option<Arc<Principal>>,
    /// The log level each legacy client session set.
    log_levels: Arc<LogLevels>,
    /// The connected client sessions rmcp serves, to tell them when lists change.
    clients: Arc<Clients>,
    /// Extra members of the `/readyz` answer (e.g. the configuration reload status), each
    /// computed when `/readyz` is asked.
    readiness_details: Vec<(&'static str, ReadinessDetail)>,
    /// What `POST /admin/reload` runs, when the gateway can reload.
    admin_reload: Option<AdminReload>,
    /// The tracer of request spans, when traces are on (`crate::trace`).
    tracing: Option<toolgate_core::trace::Tracing>,
    /// The endpoint (virtual server) this gateway serves: its view of the catalog, put into
    /// every context built here (`None`: the whole catalog).
    view: Option<Arc<EndpointView>>,
    /// The live dashboard's settings (`crate::dashboard`).
    dashboard: Arc<crate::dashboard::DashboardConfig>,
}

/// Client sessions by key, with the peer rmcp last served them on.
#[derive(Default)]
pub(crate) struct Clients(Mutex<HashMap<Arc<str>, Peer<RoleServer>>>);

impl Clients {
    /// Records the peer of `session` (the latest wins: a woken session has a new one).
    pub(crate) fn seen(&self, session: Arc<str>, peer: &Peer<RoleServer>) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|_, p| !p.is_transport_closed());
        all.insert(session, peer.clone());
    }

    fn live(&self) -> Vec<Peer<RoleServer>> {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|_, p| !p.is_transport_closed());
        all.values().cloned().collect()
    }
}

/// The capabilities announced for a catalog: tools and resources always (as before any
/// source needed more), the rest when some source supports it.
fn server_capabilities(caps: SourceCapabilities) -> ServerCapabilities {
    let mut c = ServerCapabilities::builder()
        .enable_tools()
        .enable_resources()
        .build();
    if caps.list_changed
        && let Some(tools) = c.tools.as_mut()
    {
        tools.list_changed = Some(true);
    }
    if let Some(resources) = c.resources.as_mut() {
        if caps.subscribe {
            resources.subscribe = Some(true);
        }
        if caps.list_changed {
            resources.list_changed = Some(true);
        }
    }
    if caps.prompts {
        let mut prompts = rmcp::model::PromptsCapability::default();
        if caps.list_changed {
            prompts.list_changed = Some(true);
        }
        c.prompts = Some(prompts);
    }
    if caps.completions {
        c.completions = Some(Default::default());
    }
    if caps.logging {
        c.logging = Some(Default::default());
    }
    c
}

impl Gateway {
    /// A gateway serving `catalog` through `pipeline` on `transport` (a [`toolgate_core::Pipeline`], or a
    /// [`LivePipeline`] a reload can swap).
    pub fn new(
        pipeline: impl Into<LivePipeline>,
        catalog: SharedCatalog,
        identity: ServerIdentity,
        transport: Transport,
    ) -> Self {
        let capabilities = server_capabilities(catalog.load().capabilities());
        let mut info = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(identity.name, identity.version));
        if let Some(instructions) = identity.instructions {
            info = info.with_instructions(instructions);
        }
        Gateway {
            pipeline: pipeline.into(),
            catalog,
            info: Arc::new(info),
            transport,
            in_flight: Arc::new(InFlight::default()),
            tools_json: Arc::default(),
            keep_incoming_headers: true,
            stdio_principal: None,
            log_levels: Arc::default(),
            clients: Arc::default(),
            readiness_details: Vec::new(),
            admin_reload: None,
            tracing: None,
            view: None,
            dashboard: Arc::default(),
        }
    }

    /// Tells the edge which authorization rules the pipeline enforces (pass the same
    /// `Authorization` as to `toolgate_policy::stack::build_with`), so that a call of a tool
    /// the caller may not see takes the path an unknown tool takes. Not needed when the
    /// gateway was given a [`LivePipeline`] that names its policies. (The pipeline in force
    /// is shared by every clone of this gateway: call this while building it.)
    pub fn with_authorization(
        self,
        authz: Option<Arc<toolgate_policy::authz::Authorization>>,
    ) -> Self {
        self.pipeline.set_policies(|p| p.authz = authz);
        self
    }

    /// The principal of stdio requests.
    pub(crate) fn stdio_principal(&self) -> Option<&Principal> {
        self.stdio_principal.as_deref()
    }

    /// The caller every stdio request runs as, if one is configured.
    pub fn stdio_caller(&self) -> Option<&Principal> {
        self.stdio_principal.as_deref()
    }

    /// Reports the circuit breakers of `resilience` (the one the pipeline applies) in
    /// `/readyz`. Not needed when the gateway was given a [`LivePipeline`] that names its
    /// policies.
    pub fn with_resilience(self, resilience: Arc<toolgate_policy::Resilience>) -> Self {
        self.pipeline
            .set_policies(|p| p.resilience = Some(resilience));
        self
    }

    /// Adds member `name` to `/readyz`'s answer, computed by `detail` on each request there
    /// (detail only: it does not change readiness).
    pub fn with_readiness_detail(mut self, name: &'static str, detail: ReadinessDetail) -> Self {
        self.readiness_details.push((name, detail));
        self
    }

    /// Serves `POST /admin/reload` with `reload` (protected: see `http/ops.rs`).
    pub fn with_admin_reload(mut self, reload: AdminReload) -> Self {
        self.admin_reload = Some(reload);
        self
    }

    /// Traces every request with `tracing` (a span per request, continued by the sources'
    /// client spans); `None` (the default) makes none.
    pub fn with_tracing(mut self, tracing: Option<toolgate_core::trace::Tracing>) -> Self {
        self.tracing = tracing;
        self
    }

    /// The live dashboard's settings (`dashboard` section; on with no budgets by default).
    pub fn with_dashboard(mut self, config: crate::dashboard::DashboardConfig) -> Self {
        self.dashboard = Arc::new(config);
        self
    }

    /// The live dashboard's settings.
    pub(crate) fn dashboard(&self) -> Arc<crate::dashboard::DashboardConfig> {
        self.dashboard.clone()
    }

    /// Whether requests are traced (the edge reads a request's trace context only then).
    pub(crate) fn traced(&self) -> bool {
        self.tracing.is_some()
    }

    /// What `POST /admin/reload` runs, if anything.
    pub(crate) fn admin_reload(&self) -> Option<&AdminReload> {
        self.admin_reload.as_ref()
    }

    /// The extra `/readyz` members.
    pub(crate) fn readiness_details(&self) -> &[(&'static str, ReadinessDetail)] {
        &self.readiness_details
    }

    /// The retry budgets and circuit breakers the pipeline in force applies, when known.
    pub fn resilience(&self) -> Option<Arc<toolgate_policy::Resilience>> {
        self.pipeline.load().policies.resilience.clone()
    }

    /// The pipeline in force, which a reload swaps (every clone of this gateway, on every
    /// transport and path, shares it).
    pub fn live_pipeline(&self) -> &LivePipeline {
        &self.pipeline
    }

    /// Tells every connected client session when the catalog's lists change (`changes` comes
    /// from the catalog's [`toolgate_core::Assembly`]). Spawns the task that does it; call it
    /// inside the runtime.
    pub fn notify_list_changes(&self, mut changes: tokio::sync::broadcast::Receiver<ListsChanged>) {
        let clients = self.clients.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let changed = match changes.recv().await {
                    Ok(c) => c,
                    // Missed some: tell everything.
                    Err(RecvError::Lagged(_)) => ListsChanged {
                        tools: true,
                        resources: true,
                        prompts: true,
                    },
                    Err(RecvError::Closed) => return,
                };
                for peer in clients.live() {
                    if changed.tools {
                        let _ = peer.notify_tool_list_changed().await;
                    }
                    if changed.resources {
                        let _ = peer.notify_resource_list_changed().await;
                    }
                    if changed.prompts {
                        let _ = peer.notify_prompt_list_changed().await;
                    }
                }
            }
        });
    }

    /// The log levels of legacy client sessions.
    pub(crate) fn log_levels(&self) -> &LogLevels {
        &self.log_levels
    }

    /// The connected client sessions.
    pub(crate) fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Whether `request` by `principal` needs a channel back to the client: a call of a tool
    /// whose source may talk to the client during the call. The fast path serves it only
    /// with a [`crate::protocol::channel::ModernChannel`] (a 2026-07-28 request owed nothing
    /// but its answer); otherwise rmcp's path does. A tool the caller may not use needs no
    /// channel, as an unknown name does, so the path (and the response's framing) reveals
    /// nothing.
    pub(crate) fn needs_client_channel(
        &self,
        request: &McpRequest,
        principal: Option<&Principal>,
    ) -> bool {
        match request {
            McpRequest::CallTool { name, arguments } => {
                let catalog = self.served_catalog();
                // In meta-tool mode, `call_tool` runs the tool it names (see
                // `toolgate_core::meta::unwrap_call`): that tool decides the path.
                let name = match catalog.meta() {
                    Some(_) if name == toolgate_core::meta::CALL_TOOL => arguments
                        .get("name")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default(),
                    _ => name.as_str(),
                };
                catalog.tool(name).is_some_and(|t| {
                    t.handler.interactive()
                        && self
                            .pipeline
                            .load()
                            .policies
                            .authz
                            .as_ref()
                            .is_none_or(|a| {
                                let policy = a.policy();
                                let grant = policy.grant(principal);
                                policy
                                    .decide(&grant, &toolgate_policy::authz::Item::Tool(t))
                                    .allowed
                            })
                })
            }
            McpRequest::ListTools { .. }
            | McpRequest::ListResources { .. }
            | McpRequest::ListResourceTemplates { .. }
            | McpRequest::ReadResource { .. }
            | McpRequest::Subscribe { .. }
            | McpRequest::ListPrompts { .. }
            | McpRequest::GetPrompt { .. }
            | McpRequest::Complete { .. }
            | McpRequest::SetLogLevel { .. } => false,
        }
    }

    /// Whether calls carry the incoming HTTP headers (default true). Turn it off when no
    /// source forwards headers to its backend.
    pub fn with_incoming_headers(mut self, keep: bool) -> Self {
        self.keep_incoming_headers = keep;
        self
    }

    /// The principal every stdio request runs as.
    pub fn with_stdio_principal(mut self, principal: Option<Principal>) -> Self {
        self.stdio_principal = principal.map(Arc::new);
        self
    }

    /// The same gateway labelled with another transport (shares the in-flight counter).
    pub fn with_transport(&self, transport: Transport) -> Self {
        Gateway {
            transport,
            ..self.clone()
        }
    }

    /// The transport this gateway is labelled with.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The catalog being served.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// Calls in progress across every transport using this gateway.
    pub fn in_flight(&self) -> Arc<InFlight> {
        self.in_flight.clone()
    }

    /// What `initialize` announces now: the identity, with the capabilities of the sources in
    /// the current catalog.
    pub(crate) fn current_info(&self) -> ServerConfig {
        let mut info = (*self.info).clone();
        info.capabilities = server_capabilities(self.served_catalog().capabilities());
        info
    }

    /// The same gateway serving endpoint `view` as `identity` announces it: the same
    /// pipeline, catalog, in-flight counter and client sessions, its own `serverInfo` and
    /// `instructions`, and every call run against the view's catalog.
    pub fn for_endpoint(&self, view: Arc<EndpointView>, identity: ServerIdentity) -> Gateway {
        let capabilities =
            server_capabilities(view.catalog(&self.catalog.load_full()).capabilities());
        let mut info = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(identity.name, identity.version));
        if let Some(instructions) = identity.instructions {
            info = info.with_instructions(instructions);
        }
        Gateway {
            info: Arc::new(info),
            tools_json: Arc::default(),
            view: Some(view),
            ..self.clone()
        }
    }

    /// The endpoint this gateway serves, if it serves one.
    pub fn view(&self) -> Option<&Arc<EndpointView>> {
        self.view.as_ref()
    }

    /// The catalog this gateway serves now: the shared one, or its endpoint's view of it.
    pub fn served_catalog(&self) -> Arc<Catalog> {
        let base = self.catalog.load_full();
        match &self.view {
            Some(view) => view.catalog(&base),
            None => base,
        }
    }

    /// The cache of serialized `tools/list` arrays.
    pub(crate) fn tools_json(&self) -> &ToolsJson {
        &self.tools_json
    }

    /// **The request edge**: the context of one request, whatever its transport and
    /// whichever path serves it. The caller's identity is established here and nowhere else:
    /// over HTTP from the request's extensions (where authentication puts the principal),
    /// over stdio from the configured principal.
    pub(crate) fn context(
        &self,
        arrival: Arrival<'_>,
        path: EdgePath,
        cancel: CancellationToken,
    ) -> CallContext {
        self.context_with_client(arrival, path, cancel, None)
    }

    /// [`Gateway::context`] with the channel back to the client (rmcp's path; the fast path's
    /// for a 2026-07-28 call of a tool that talks back).
    pub(crate) fn context_with_client(
        &self,
        arrival: Arrival<'_>,
        path: EdgePath,
        cancel: CancellationToken,
        client: Option<Arc<dyn ClientChannel>>,
    ) -> CallContext {
        let mut ctx = self.edge_context(arrival, path, cancel);
        ctx.client = client;
        ctx
    }

    fn edge_context(
        &self,
        arrival: Arrival<'_>,
        path: EdgePath,
        cancel: CancellationToken,
    ) -> CallContext {
        let mut ctx = self.arrival_context(arrival, path, cancel);
        // The one place a call is tied to an endpoint: its view decides, at the pipeline's
        // Resolve step, which catalog the call runs against (`toolgate_core::endpoint`).
        ctx.view = self.view.clone();
        ctx
    }

    fn arrival_context(
        &self,
        arrival: Arrival<'_>,
        path: EdgePath,
        cancel: CancellationToken,
    ) -> CallContext {
        match arrival {
            Arrival::Http(parts) => {
                let mut ctx =
                    CallContext::new(CorrelationId::from_headers(&parts.headers), self.transport);
                ctx.path = path;
                ctx.cancel = cancel;
                ctx.principal = parts.extensions.get::<Arc<Principal>>().cloned();
                ctx.peer = parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<SocketAddr>>()
                    .map(|c| c.0);
                if self.keep_incoming_headers {
                    ctx.incoming_headers = Some(Arc::new(parts.headers.clone()));
                }
                ctx
            }
            Arrival::Stdio => {
                // stdio carries no correlation id.
                let mut ctx = CallContext::new(CorrelationId::generate(), self.transport);
                ctx.path = path;
                ctx.cancel = cancel;
                ctx.principal = self.stdio_principal.clone();
                ctx
            }
        }
    }

    /// Runs `request` through the pipeline, counted as in flight until it finishes or is
    /// dropped: every path's way into the pipeline. With traces on, the request's span
    /// (`crate::trace`) covers the call, and its context travels in `ctx` to the sources.
    pub(crate) async fn run(
        &self,
        mut ctx: CallContext,
        request: McpRequest,
        edge: RequestEdge<'_>,
    ) -> Result<McpResponse, GatewayError> {
        let _guard = self.in_flight.enter();
        // The one load of the pipeline in force: the call runs on it to its end, across a
        // reload.
        let pipeline = self.pipeline.load().pipeline.clone();
        let Some(tracing) = &self.tracing else {
            return pipeline.oneshot(McpCall::new(ctx, request)).await;
        };
        let trace = crate::trace::start(tracing, &self.catalog, &ctx, &request, &edge);
        ctx.trace = Some(trace.clone());
        let result = pipeline.oneshot(McpCall::new(ctx, request)).await;
        crate::trace::finish(&trace, &result);
        result
    }
}
