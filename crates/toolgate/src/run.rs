//! Wiring for `serve`: configuration → sources → catalog → pipeline →
//! transport.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use toolgate_core::{Assembly, Transport};
use toolgate_policy::Metrics;
use toolgate_server::{Gateway, HttpOptions, ServerIdentity};
use toolgate_upstream::{Upstream, UpstreamMetrics};

use crate::Failure;
use crate::cli::ServeArgs;
use crate::config::{self, Config, LogFormat, OpenApiSourceConfig, SourceConfig, SpecLocation};
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
    /// The upstream MCP servers (supervised; stop them with [`Assembled::stop`]).
    pub upstreams: Vec<Upstream>,
    /// The catalog's assembly (upstreams publish their lists to it).
    pub assembly: Arc<Assembly>,
}

impl Assembled {
    /// Stops every upstream MCP server and waits until their processes are gone.
    pub async fn stop(&self) {
        futures::future::join_all(self.upstreams.iter().map(Upstream::stop)).await;
    }
}

/// Builds every source, the catalog, the pipeline and the gateway. Upstream MCP servers are
/// started (eager ones are connected and listed before this returns; one that fails to start
/// is retried in the background and does not stop the gateway).
pub async fn assemble(config: &Config, relative_to: &Path) -> Result<Assembled, Failure> {
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
    let assembly = Assembly::new(catalog.clone(), config.limits.page_size);
    let upstream_metrics = UpstreamMetrics::default();
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
                let contribution =
                    sources::contribution(&mut b).map_err(|e| Failure::Input(e.to_string()))?;
                if let Some(dup) = assembly.publish(contribution).into_iter().next() {
                    return Err(Failure::Input(dup.to_string()));
                }
                built.push(b);
            }
            SourceConfig::Mcp(source) => {
                let upstream = Upstream::new(
                    source.clone(),
                    relative_to,
                    assembly.clone(),
                    upstream_metrics.clone(),
                )
                .map_err(|e| Failure::Input(e.to_string()))?;
                // Its place in configuration order, before it starts.
                assembly.publish(toolgate_core::Contribution::empty(
                    toolgate_core::SourceEntry {
                        name: Arc::from(source.name.as_str()),
                        probe: Arc::new(Starting),
                        control: None,
                        capabilities: Default::default(),
                    },
                ));
                upstreams.push(upstream);
            }
        }
    }
    futures::future::join_all(upstreams.iter().map(Upstream::start)).await;
    warn_about_uncompilable_schemas(&catalog, &built);
    let metrics = Metrics::with_extra(|registry| upstream_metrics.register(registry));
    let pipeline = toolgate_policy::stack::build(catalog.clone(), metrics.clone());
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
    let gateway = Gateway::new(pipeline, catalog, identity, Transport::Http)
        .with_incoming_headers(forwards_headers);
    gateway.notify_list_changes(assembly.subscribe());
    Ok(Assembled {
        gateway,
        metrics,
        sources: built,
        upstreams,
        assembly,
    })
}

/// The readiness of an upstream that has not published yet.
struct Starting;

impl toolgate_core::ReadinessProbe for Starting {
    fn check(&self) -> futures::future::BoxFuture<'static, Result<(), String>> {
        Box::pin(std::future::ready(Err("starting".to_owned())))
    }
}

/// Logs a warning for each tool whose input schema does not compile (its arguments are then
/// checked by name only). Validators are compiled on a tool's first call, not at start, so
/// this runs off the start-up path, on the blocking pool.
fn warn_about_uncompilable_schemas(catalog: &toolgate_core::SharedCatalog, built: &[BuiltSource]) {
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
        assembled.metrics.clone(),
        mcp_shutdown.clone(),
    );
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
    let addr = match &args.http {
        Some(a) => parse_addr(a)?,
        None => parse_addr(&config.http.bind)?,
    };
    init_logging(&config);
    let assembled = assemble(&config, &relative_to).await?;
    let upstreams = assembled.upstreams.clone();
    let served = if args.stdio {
        // `http.fast_path` switches the stdio fast path too (one switch for "rule it out").
        toolgate_server::serve_stdio_with(assembled.gateway.clone(), config.http.fast_path)
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
    futures::future::join_all(upstreams.iter().map(Upstream::stop)).await;
    served?;
    Ok(ExitCode::SUCCESS)
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
