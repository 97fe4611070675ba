//! Wiring for `serve`: configuration → sources → catalog → pipeline →
//! transport.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use toolgate_auth::ResourceAuth;
use toolgate_core::{Assembly, Transport};
use toolgate_policy::Metrics;
use toolgate_server::{AuthSettings, EdgeAuth, Gateway, HttpOptions, ServerIdentity};
use toolgate_upstream::{Upstream, UpstreamMetrics};

use crate::Failure;
use crate::cli::ServeArgs;
use crate::config::{self, Config, LogFormat, OpenApiSourceConfig, SourceConfig, SpecLocation};
pub use crate::policies::{authentication_enabled, policies};
use crate::sources::{self, BuiltSource};

/// The process environment as a map (the config loader takes it explicitly).
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

/// Reads and validates a configuration file. The values it takes from the environment are
/// registered with [`crate::redact`] by `config::load`, so nothing printed afterwards shows them.
pub fn load_config_file(path: &Path) -> Result<Config, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Input(format!(
            "cannot read configuration file {}: {e}",
            path.display()
        ))
    })?;
    config::load(&text, &path.display().to_string(), &process_env())
        .map_err(|e| Failure::Input(e.to_string()))
}

/// Sets up logging to stderr (stdout belongs to the stdio transport). Every line is scrubbed
/// of the secrets registered with [`crate::redact`] before it is written.
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            // rmcp logs every session at INFO; keep its chatter out of the default output.
            tracing_subscriber::EnvFilter::try_new(format!("{},rmcp=warn", config.logging.level))
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::redact::Scrubbing(std::io::stderr))
        .with_ansi(false);
    let _ = match config.logging.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Everything needed to serve: the gateway, its metrics, and what it was built from.
pub struct Assembled {
    /// The MCP gateway.
    pub gateway: Gateway,
    /// Pipeline metrics (served at `/metrics`).
    pub metrics: Arc<Metrics>,
    /// The built OpenAPI sources.
    pub sources: Vec<BuiltSource>,
    /// The upstream MCP servers started with the gateway (supervised; stop them with
    /// [`Assembled::stop`]).
    pub upstreams: Vec<Upstream>,
    /// The upstream MCP servers running now (a reload starts and stops some).
    pub running_upstreams: Arc<crate::upstreams::RunningUpstreams>,
    /// The catalog's assembly (upstreams publish their lists to it).
    pub assembly: Arc<Assembly>,
    /// The authentication of the HTTP edge (`Off` without an `auth` section or when
    /// assembled by [`assemble`] rather than [`assemble_with_auth`]).
    pub edge_auth: EdgeAuth,
    /// The active configuration and the last reload's outcome (`/readyz`, `/metrics`).
    pub reload: Arc<crate::reload::ReloadStatus>,
    /// The pipeline's policies, rebuilt and swapped by a reload.
    pub policies: Arc<crate::policies::PolicyBuilder>,
}

impl Assembled {
    /// Stops every upstream MCP server and waits until their processes are gone.
    pub async fn stop(&self) {
        self.running_upstreams.stop_all().await;
    }
}

/// Builds every source, the catalog, the pipeline and the gateway. Upstream MCP servers are
/// started (eager ones are connected and listed before this returns; one that fails to start
/// is retried in the background and does not stop the gateway).
pub async fn assemble(config: &Config, relative_to: &Path) -> Result<Assembled, Failure> {
    assemble_with_auth(config, relative_to, None).await
}

/// Builds the verifier of the configuration's `auth` section (fetching the issuer's OIDC
/// discovery document and keys), or `None` when authentication is off.
pub async fn resource_auth(config: &Config) -> Result<Option<Arc<ResourceAuth>>, Failure> {
    build_resource_auth(config).await.map_err(|e| {
        Failure::Input(
            crate::config::ConfigErrors {
                origin: "(auth)".to_owned(),
                issues: auth_issues(&e),
            }
            .to_string(),
        )
    })
}

/// [`resource_auth`] with the verifier's own error (each problem names its path).
pub async fn build_resource_auth(
    config: &Config,
) -> Result<Option<Arc<ResourceAuth>>, toolgate_auth::AuthConfigError> {
    let Some(auth) = &config.auth else {
        return Ok(None);
    };
    let resource = auth.resource_url(&config.http.bind, &config.http.path);
    Ok(Some(Arc::new(
        ResourceAuth::new(&auth.verify, &resource).await?,
    )))
}

/// The problems of an `auth` section, as configuration issues at their paths.
pub fn auth_issues(e: &toolgate_auth::AuthConfigError) -> Vec<crate::config::ConfigIssue> {
    e.problems()
        .into_iter()
        .map(|(location, message)| {
            // Some messages start with their own path; it is printed once, as the location.
            let message = message
                .strip_prefix(&format!("{location}: "))
                .map(str::to_owned)
                .unwrap_or(message);
            crate::config::ConfigIssue { location, message }
        })
        .collect()
}

/// The edge settings for `auth` (built by [`resource_auth`]).
fn edge_auth(config: &Config, auth: Option<&Arc<ResourceAuth>>) -> EdgeAuth {
    let (Some(section), Some(auth)) = (&config.auth, auth) else {
        return EdgeAuth::Off;
    };
    let resource = section.resource_url(&config.http.bind, &config.http.path);
    let mut settings = AuthSettings::new(
        auth.clone() as Arc<dyn toolgate_core::Authenticator>,
        auth.protected_resource_metadata(),
        &resource,
    );
    settings.metrics = section.edge.metrics;
    EdgeAuth::on(settings)
}

/// [`assemble`] with the verifier of the `auth` section: the HTTP edge authenticates with
/// it and its decisions are counted in `/metrics`.
pub async fn assemble_with_auth(
    config: &Config,
    relative_to: &Path,
    auth: Option<Arc<ResourceAuth>>,
) -> Result<Assembled, Failure> {
    if config.sources.is_empty() {
        return Err(Failure::Input(
            "nothing to serve: pass --openapi <file or URL> or list `sources` in the configuration file".to_owned(),
        ));
    }
    let catalog = toolgate_core::catalog::shared(
        toolgate_core::Catalog::builder()
            .page_size(config.limits.page_size)
            .build(),
    );
    let assembly =
        Assembly::with_view(catalog.clone(), config.limits.page_size, config.tool_view());
    let upstream_metrics = UpstreamMetrics::default();
    let running_upstreams = Arc::new(crate::upstreams::RunningUpstreams::new(
        relative_to.to_path_buf(),
        assembly.clone(),
        upstream_metrics.clone(),
    ));
    let mut built = Vec::new();
    let mut upstreams = Vec::new();
    for source in &config.sources {
        match source {
            SourceConfig::OpenApi(source) => {
                let mut b = sources::build_source(source, relative_to)
                    .await
                    .map_err(|e| Failure::Input(e.to_string()))?;
                let skipped = skipped_operations(&b);
                tracing::info!(
                    source = %b.name,
                    base_url = %b.base_url,
                    operations = b.spec.operations.len(),
                    skipped,
                    "source loaded"
                );
                if source.backend.forward_authorization {
                    tracing::warn!(
                        source = %b.name,
                        backend = %b.base_url,
                        "forward_authorization is on: each caller's own token is passed to this \
                         backend (token passthrough); safe only when the backend is that token's \
                         audience. Prefer identity.token_exchange or identity.mint"
                    );
                }
                let contribution =
                    sources::contribution(&mut b).map_err(|e| Failure::Input(e.to_string()))?;
                if let Some(dup) = assembly.publish(contribution).into_iter().next() {
                    return Err(Failure::Input(dup.to_string()));
                }
                built.push(b);
            }
            SourceConfig::Mcp(source) => {
                let upstream = running_upstreams.create(source).map_err(Failure::Input)?;
                // Its place in configuration order, before it starts.
                assembly.publish(crate::upstreams::placeholder(&source.name));
                running_upstreams.add(upstream.clone());
                upstreams.push(upstream);
            }
        }
    }
    futures::future::join_all(upstreams.iter().map(Upstream::start)).await;
    warn_about_uncompilable_schemas(&catalog, &built);
    let limit_metrics = toolgate_policy::limits::LimitMetrics::default();
    let limits = crate::policies::rate_limits(config, &limit_metrics, None).await?;
    let http_limits = crate::policies::http_limits(config, &limit_metrics, None)?;
    let resilience = toolgate_policy::Resilience::new(
        config.resilience.clone(),
        config.sources.iter().map(SourceConfig::name),
    );
    let reload = crate::reload::ReloadStatus::new();
    let metrics = Metrics::with_options(config.telemetry.traces.is_some(), |registry| {
        upstream_metrics.register(registry);
        reload.metrics().register(registry);
        limit_metrics.register(registry);
        resilience.register(registry);
        if let Some(auth) = &auth {
            auth.register_metrics(registry);
        }
    });
    let authentication = authentication_enabled(config);
    let mut policies = policies(config, authentication, &metrics)?;
    policies.limits = limits;
    policies.http_limits = http_limits;
    policies.resilience = Some(resilience);
    let policies = Arc::new(crate::policies::PolicyBuilder::start(
        catalog.clone(),
        metrics.clone(),
        limit_metrics,
        authentication,
        policies,
    ));
    let identity = ServerIdentity {
        name: config.server.name.clone(),
        instructions: config.server.instructions.clone(),
        ..ServerIdentity::default()
    };
    let forwards_headers = config.sources.iter().any(|s| match s {
        SourceConfig::OpenApi(s) => {
            !s.backend.forward_headers.is_empty() || s.backend.forward_authorization
        }
        SourceConfig::Mcp(_) => false,
    });
    let gateway = Gateway::new(policies.live().clone(), catalog, identity, Transport::Http)
        .with_incoming_headers(forwards_headers)
        .with_stdio_principal(stdio_principal(config))
        .with_dashboard(config.dashboard.clone())
        .with_readiness_detail("config", {
            let reload = reload.clone();
            Arc::new(move || reload.detail())
        });
    gateway.notify_list_changes(assembly.subscribe());
    // The compiled documents are freed (and handed back): from here on the gateway serves.
    crate::memory::serving();
    Ok(Assembled {
        gateway,
        metrics,
        sources: built,
        upstreams,
        running_upstreams,
        assembly,
        edge_auth: edge_auth(config, auth.as_ref()),
        reload,
        policies,
    })
}

/// The principal of stdio requests: `auth.stdio` (or its default) with authentication on,
/// else `authorization.stdio_principal` (stdio-only deployments need no `auth` section;
/// `config::load` refuses both at once).
fn stdio_principal(config: &Config) -> Option<toolgate_core::Principal> {
    if let Some(auth) = &config.auth {
        return Some(auth.stdio_principal());
    }
    let p = config.authorization.as_ref()?.stdio_principal.as_ref()?;
    let mut principal = toolgate_core::Principal::new(
        p.subject.clone(),
        p.scopes.clone(),
        toolgate_core::AuthMethod::Configured,
    );
    principal.roles = p.roles.clone();
    Some(principal)
}

/// Logs a warning for each tool whose input schema does not compile (its arguments are then
/// checked by name only). Validators are compiled on a tool's first call, not at start, so
/// this runs off the start-up path, on the blocking pool.
pub(crate) fn warn_about_uncompilable_schemas(
    catalog: &toolgate_core::SharedCatalog,
    built: &[BuiltSource],
) {
    let catalog = catalog.load_full();
    // Only OpenAPI tools are validated by toolgate; an upstream MCP server checks its own.
    let openapi: std::collections::HashSet<String> = built.iter().map(|b| b.name.clone()).collect();
    tokio::task::spawn_blocking(move || {
        let problems = toolgate_http::check_input_schemas(
            catalog
                .tools()
                .iter()
                .filter(|t| openapi.contains(t.source.as_ref()))
                .map(|t| (t.tool.name.as_ref(), &*t.tool.input_schema)),
        );
        for problem in problems {
            tracing::warn!(tool = %problem.tool, "{problem}");
        }
    });
}

/// Operations of a built source that were skipped (an error diagnostic each).
fn skipped_operations(built: &BuiltSource) -> usize {
    built
        .spec
        .diagnostics
        .iter()
        .filter(|d| d.severity == toolgate_openapi::Severity::Error)
        .count()
}

/// HTTP transport options from the configuration.
pub fn http_options(config: &Config) -> HttpOptions {
    config.http.clone()
}

/// Adds toolgate's JSON Web Key Set at `GET /.well-known/jwks.json` when a source's backend
/// gets JWTs minted by toolgate (`identity.mint`), so the backend can verify them. The keys
/// are fixed at start; the document is public, as a JWKS is.
pub fn with_identity_routes(app: axum::Router, assembled: &Assembled) -> axum::Router {
    if !assembled.sources.iter().any(|s| s.backend.mints_tokens()) {
        return app;
    }
    let jwks = toolgate_http::identity::jwks_document(assembled.sources.iter().map(|s| &s.backend));
    let body = axum::body::Bytes::from(serde_json::to_vec(&jwks).expect("a JWKS serializes"));
    app.route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (axum::http::header::CONTENT_TYPE, "application/jwk-set+json"),
                        (axum::http::header::CACHE_CONTROL, "public, max-age=300"),
                    ],
                    body,
                )
            }
        }),
    )
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Binds `addr` and serves the HTTP app until a shutdown signal.
pub async fn serve_http(
    assembled: Assembled,
    config: &Config,
    addr: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), Failure> {
    let options = http_options(config);
    log_auth_mode(config, &assembled.edge_auth, addr);
    if !addr.ip().is_loopback() && config.http.allowed_hosts.is_none() {
        tracing::warn!(
            %addr,
            "listening on a non-loopback address with the default loopback-only Host allowlist: remote clients will get 403 until `http.allowed_hosts` lists the names they use"
        );
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let mcp_shutdown = CancellationToken::new();
    let app = toolgate_server::gateway_app(
        assembled.gateway.clone(),
        &options,
        assembled.edge_auth.clone(),
        assembled.metrics.clone(),
        mcp_shutdown.clone(),
    );
    let endpoints = crate::endpoints::all(config)?;
    crate::endpoints::warn_if_empty(&endpoints, &assembled.gateway);
    let app = app.merge(crate::endpoints::routes(
        &endpoints,
        &assembled.gateway,
        &options,
        &assembled.edge_auth,
        &mcp_shutdown,
    ));
    let app = with_identity_routes(app, &assembled);
    tracing::info!(
        url = %format!("http://{local}{}", options.path),
        worker_threads = tokio::runtime::Handle::current().metrics().num_workers(),
        "MCP endpoint ready"
    );
    on_ready(local);
    toolgate_server::serve(
        listener,
        app,
        shutdown_signal(),
        assembled.gateway.in_flight(),
        config.http.shutdown_grace(),
        mcp_shutdown,
    )
    .await
    .map_err(|e| Failure::Runtime(format!("HTTP server failed: {e}")))
}

/// Says at start whether HTTP callers are authenticated, and warns where that is unsafe.
fn log_auth_mode(config: &Config, edge: &EdgeAuth, addr: SocketAddr) {
    match (edge, &config.auth) {
        (EdgeAuth::On(settings), Some(section)) => {
            let resource = section.resource_url(&config.http.bind, &config.http.path);
            tracing::info!(
                %resource,
                metadata = %settings.metadata_url,
                metrics = ?section.edge.metrics,
                "authentication on: every MCP request needs a bearer token"
            );
            if !addr.ip().is_loopback() && resource.starts_with("http://") {
                tracing::warn!(
                    %resource,
                    "authentication on a non-loopback address over plain HTTP: terminate TLS in \
                     front of toolgate (bearer tokens must not cross the network in clear)"
                );
            }
        }
        _ if !addr.ip().is_loopback() => tracing::warn!(
            %addr,
            "authentication off on a non-loopback address: anyone who can reach the port may \
             call every tool (add an `auth` section, see docs/auth.md)"
        ),
        _ => tracing::info!("authentication off (loopback)"),
    }
}

/// `toolgate serve`.
pub async fn serve(args: ServeArgs) -> Result<ExitCode, Failure> {
    let (mut config, relative_to) = match &args.config {
        Some(path) => (load_config_file(path)?, parent_dir(path)),
        None => (
            config::load("", "<defaults>", &process_env())
                .map_err(|e| Failure::Input(e.to_string()))?,
            PathBuf::from("."),
        ),
    };
    apply_args(&args, &mut config)?;
    let addr = match &args.http {
        Some(a) => parse_addr(a)?,
        None => parse_addr(&config.http.bind)?,
    };
    init_logging(&config);
    // The resource URL defaults to the address actually served.
    config.http.bind = addr.to_string();
    let auth = if args.stdio {
        None
    } else {
        resource_auth(&config).await?
    };
    let traces = crate::telemetry::start(&config)?;
    let mut assembled = assemble_with_auth(&config, &relative_to, auth).await?;
    let (traces, tracing) = traces.unzip();
    assembled.gateway = assembled.gateway.clone().with_tracing(tracing);
    let upstreams = assembled.running_upstreams.clone();
    let recording = assembled.policies.live().clone();
    if let Some(path) = &args.config {
        assembled.reload.started_from(path);
        let watch = !args.no_watch;
        let reloader = crate::reload::Reloader::new(
            path.clone(),
            assembled.assembly.clone(),
            assembled.policies.clone(),
            assembled.running_upstreams.clone(),
            config.clone(),
            Box::new({
                let args = args.clone();
                move |config| apply_args(&args, config)
            }),
            assembled.reload.clone(),
        );
        assembled.gateway =
            assembled
                .gateway
                .clone()
                .with_admin_reload(crate::reload::admin_trigger(
                    reloader.clone(),
                    assembled.reload.clone(),
                ));
        crate::reload::spawn(reloader, watch);
    } else {
        crate::reload::ignore_hangup();
    }
    let served = if args.stdio {
        let gateway = match &args.endpoint {
            None => assembled.gateway.clone(),
            Some(name) => {
                let endpoint = crate::endpoints::named(&config, name)?;
                crate::endpoints::check_stdio_access(&endpoint, &assembled.gateway)?;
                crate::endpoints::warn_if_empty(
                    std::slice::from_ref(&endpoint),
                    &assembled.gateway,
                );
                endpoint.gateway(&assembled.gateway)
            }
        };
        // `http.fast_path` switches the stdio fast path too (one switch for "rule it out").
        toolgate_server::serve_stdio_with(gateway, config.http.fast_path)
            .await
            .map_err(|e| Failure::Runtime(format!("stdio transport failed: {e}")))
    } else {
        let path = config.http.path.clone();
        let tools = assembled.gateway.catalog().load().tools().len();
        serve_http(assembled, &config, addr, move |local| {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stdout(),
                "toolgate: serving {tools} tools at http://{local}{path}"
            );
        })
        .await
    };
    // Upstream servers stop with the gateway (gracefully, then killed): no orphan processes.
    upstreams.stop_all().await;
    // The spans still queued are exported before the process ends.
    if let Some(traces) = traces {
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    // The recording's queued lines are written before the process exits.
    if let Some(recorder) = &recording.current().policies.recording {
        recorder.sync();
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Applies the command line's sources and overrides (`--openapi`, `--base-url`, backend
/// credentials) to a loaded configuration (at start and on each reload).
fn apply_args(args: &ServeArgs, config: &mut Config) -> Result<(), Failure> {
    // Credentials in URLs given on the command line (`?token=`, `user:pw@`) are scrubbed from
    // everything printed, as those of a configuration file are.
    for url in args.openapi.iter().chain(&args.base_url) {
        crate::redact::register_url(url);
    }
    if let Some(spec) = &args.openapi {
        let compile = toolgate_openapi::CompileOptions {
            namespace: args.namespace.clone(),
            ..Default::default()
        };
        config.sources.push(SourceConfig::from(OpenApiSourceConfig {
            name: args.name.clone(),
            spec: SpecLocation::Location(spec.clone()),
            base_url: args.base_url.clone(),
            compile,
            backend: args
                .auth
                .backend_options(&process_env())
                .map_err(Failure::Input)?,
            tools: Default::default(),
            tool_mode: None,
        }));
    } else if args.auth.any() {
        return Err(Failure::Input(
            "the backend credential flags apply to --openapi; with --config, set the source's \
             `backend.auth` (see examples/configs/fastapi-auth.yaml)"
                .to_owned(),
        ));
    } else if let Some(base) = &args.base_url {
        match config.sources.as_mut_slice() {
            [SourceConfig::OpenApi(only)] => only.base_url = Some(base.clone()),
            _ => {
                return Err(Failure::Input(
                    "--base-url without --openapi needs a configuration with exactly one source"
                        .to_owned(),
                ));
            }
        }
    }
    if let Some(base) = &args.base_url {
        check_base_url(base)?;
    }
    Ok(())
}

fn check_base_url(base: &str) -> Result<(), Failure> {
    match url::Url::parse(base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(Failure::Input(format!(
            "--base-url `{base}` is not an absolute http(s) URL such as http://127.0.0.1:8000"
        ))),
    }
}

/// Parses a listen address.
pub fn parse_addr(text: &str) -> Result<SocketAddr, Failure> {
    text.parse().map_err(|_| {
        Failure::Input(format!(
            "`{text}` is not a listen address; use IP:PORT such as 127.0.0.1:8080"
        ))
    })
}

/// The folder a configuration file's relative paths are resolved against.
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
