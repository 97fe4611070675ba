//! Connecting to an upstream server with rmcp's client side: starting a stdio server
//! (`TokioChildProcess`) or opening a streamable HTTP session
//! (`StreamableHttpClientTransport` over the upstream's pooled client, `http_client.rs`), and the
//! resulting [`Connection`]: the peer to send requests on, the routes of its in-flight
//! requests, the lean `tools/call` path of a 2026-07-28 HTTP upstream (`upstream/lean/`),
//! and how to stop it.
//!
//! A stdio server runs in a process group of its own (stopping it stops what it started,
//! e.g. `npx` → `node`), with only the configured environment (not the gateway's secrets),
//! its stderr read line by line into the gateway's log under the source's name, and
//! transparent huge pages allowed again (the gateway turns them off for itself). Stopping
//! follows the stdio shutdown of the specification, as rmcp implements it: close stdin, wait
//! 3 s, SIGTERM, wait 3 s, SIGKILL; the child is always reaped. Does not own: when to
//! connect or restart (`upstream.rs`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

use process_wrap::tokio::{CommandWrap, ProcessGroup};
use rmcp::model::{ClientCapabilities, ClientConfig as ClientInfo, ServerCapabilities};
use rmcp::service::{
    ClientCacheConfig, ClientLifecycleMode, ClientServiceExt as _, RunningServiceCancellationToken,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{Peer, RoleClient, ServiceExt as _};
use tokio::io::AsyncBufReadExt as _;
use tokio_util::sync::CancellationToken;

use crate::client::{Hub, UpstreamClient};
use crate::config::{ProtocolChoice, Transport};
use crate::http_client::HttpUpstream;
use crate::oauth2::OAuth2Client;
use crate::ordered::Ordered;
use crate::routing::Routes;
use crate::session_client::{RMCP_UNCAPPED, SessionClient};
use crate::stdio::{ChildTransport, Fault};
use crate::upstream::lean::{Lean, LeanSettings};

/// One live MCP session with an upstream server.
pub(crate) struct Connection {
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) routes: Arc<Routes>,
    /// What the server declared.
    pub(crate) capabilities: ServerCapabilities,
    /// What the gateway declared to it: for a 2026-07-28 server, the bound of what each
    /// request declares (`crate::declared`).
    pub(crate) declared: ClientCapabilities,
    /// Whether the server speaks 2026-07-28 or later: each request declares capabilities.
    pub(crate) stateless: bool,
    /// The server's process id (stdio).
    pub(crate) pid: Option<u32>,
    /// Why the gateway ended the session, if it did (a message over the cap).
    pub(crate) fault: Arc<Fault>,
    /// The lean `tools/call` of a 2026-07-28 HTTP upstream (`upstream/lean/`).
    pub(crate) lean: Option<Lean>,
    stop: Mutex<Option<RunningServiceCancellationToken>>,
    ended: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Connection {
    /// Resolves when the session ended (the server exited, the connection broke, or it was
    /// stopped).
    pub(crate) async fn ended(&self) {
        self.ended.cancelled().await;
    }

    /// Whether the session ended.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended.is_cancelled() || self.peer.is_transport_closed()
    }

    /// Stops the session and waits until it is closed (a stdio server has exited and been
    /// reaped).
    pub(crate) async fn stop(&self) {
        let token = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(token) = token {
            token.cancel();
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The server process could not be started.
    #[error("cannot start `{command}`: {reason}")]
    Spawn {
        /// The program.
        command: String,
        /// The OS error.
        reason: String,
    },
    /// No HTTP client for an HTTP upstream (a bug).
    #[error("{0}")]
    Client(String),
    /// The MCP handshake failed.
    #[error("the MCP handshake failed: {0}")]
    Handshake(String),
}

/// What [`connect`] needs besides the hub: the transport (paths relative to `base_dir`),
/// the shared HTTP client, the message cap and the shutdown grace.
pub(crate) struct Target<'a> {
    pub(crate) transport: &'a Transport,
    pub(crate) base_dir: &'a Path,
    pub(crate) http: Option<&'a HttpUpstream>,
    pub(crate) max_message_bytes: usize,
    pub(crate) shutdown_grace: std::time::Duration,
}

/// Connects to the server of `target`, as a client declaring `info`.
pub(crate) async fn connect(
    hub: Arc<Hub>,
    target: Target<'_>,
    info: ClientInfo,
) -> Result<Arc<Connection>, ConnectError> {
    let Target {
        transport,
        base_dir,
        http,
        max_message_bytes,
        shutdown_grace,
    } = target;
    let fault = Arc::new(Fault::default());
    let routes = Arc::new(Routes::default());
    let lean_info = info.clone();
    let declared = info.capabilities.clone();
    let handler = UpstreamClient {
        hub: hub.clone(),
        routes: routes.clone(),
        info,
    };
    // What the lean path needs, should the HTTP upstream speak 2026-07-28.
    let mut lean = None;
    let (running, pid) = match transport {
        Transport::Stdio {
            command,
            args,
            env,
            inherit_env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear();
            for name in inherit_env {
                if let Some(v) = std::env::var_os(name) {
                    cmd.env(name, v);
                }
            }
            cmd.envs(env);
            if let Some(dir) = cwd {
                cmd.current_dir(base_dir.join(dir));
            }
            #[cfg(target_os = "linux")]
            // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
            unsafe {
                cmd.pre_exec(|| {
                    // The gateway disables transparent huge pages for itself (main.rs); a
                    // server it starts should not inherit that.
                    libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
                    Ok(())
                });
            }
            let mut wrap = CommandWrap::from(cmd);
            wrap.wrap(ProcessGroup::leader());
            wrap.command_mut()
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let spawn_error = |e: std::io::Error| ConnectError::Spawn {
                command: command.clone(),
                reason: e.to_string(),
            };
            let mut child = wrap.spawn().map_err(spawn_error)?;
            let pid = child.id();
            if let Some(stderr) = child.inner_mut().stderr().take() {
                tokio::spawn(log_stderr(hub.name.clone(), stderr));
            }
            let process = ChildTransport::new(
                child,
                hub.name.clone(),
                max_message_bytes,
                shutdown_grace,
                fault.clone(),
            )
            .map_err(spawn_error)?;
            let running = handler
                .serve(Ordered::new(process, routes.clone()))
                .await
                .map_err(|e| ConnectError::Handshake(e.to_string()))?;
            (running, pid)
        }
        Transport::Http {
            headers,
            bearer_token,
            max_concurrent_requests,
            protocol,
            ..
        } => {
            let mut custom = HashMap::new();
            for (name, value) in headers {
                // Checked when the configuration was loaded.
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::try_from(name.as_str()),
                    http::HeaderValue::try_from(value.as_str()),
                ) {
                    custom.insert(n, v);
                }
            }
            let Some(http) = http else {
                return Err(ConnectError::Client(
                    "no HTTP client was built for this upstream".to_owned(),
                ));
            };
            // One cap for the session's POSTs and the lean path's (session_client.rs).
            let permits = Arc::new(tokio::sync::Semaphore::new(
                (*max_concurrent_requests).max(1),
            ));
            lean = Some(LeanSettings {
                transport: http.transport.clone(),
                http: http.client.clone(),
                tokens: http.tokens.clone(),
                url: http.url.clone(),
                headers: custom.clone(),
                auth: bearer_token.as_ref().map(|t| t.expose().to_owned()),
                info: lean_info,
                version: rmcp::model::ProtocolVersion::V_2026_07_28,
                max_sse_event_size: max_message_bytes,
                permits: permits.clone(),
                hub: hub.clone(),
            });
            let mut config = StreamableHttpClientTransportConfig::with_uri(http.url.as_str())
                .custom_headers(custom)
                .reinit_on_expired_session(true);
            config.max_concurrent_requests = RMCP_UNCAPPED;
            // JSON answers are capped by rmcp (MAX_JSON_RESPONSE_SIZE); events of an SSE
            // answer here.
            config.max_sse_event_size = max_message_bytes;
            if let Some(token) = bearer_token {
                config = config.auth_header(token.expose().to_owned());
            }
            let lifecycle = match protocol {
                ProtocolChoice::Auto => ClientLifecycleMode::Auto {
                    preferred_versions: vec![
                        rmcp::model::ProtocolVersion::V_2026_07_28,
                        rmcp::model::ProtocolVersion::V_2025_11_25,
                    ],
                    legacy_version: Some(rmcp::model::ProtocolVersion::V_2025_11_25),
                },
                ProtocolChoice::Legacy => ClientLifecycleMode::Initialize,
            };
            let served = match &http.tokens {
                Some(tokens) => {
                    let client = OAuth2Client {
                        http: http.client.clone(),
                        tokens: tokens.clone(),
                    };
                    let client = SessionClient {
                        inner: client,
                        permits,
                    };
                    let transport = StreamableHttpClientTransport::with_client(client, config);
                    let transport = Ordered::new(transport, routes.clone());
                    handler.serve_with_lifecycle(transport, lifecycle).await
                }
                None => {
                    let client = SessionClient {
                        inner: http.client.clone(),
                        permits,
                    };
                    let transport = StreamableHttpClientTransport::with_client(client, config);
                    let transport = Ordered::new(transport, routes.clone());
                    handler.serve_with_lifecycle(transport, lifecycle).await
                }
            };
            let running = served
                .map_err(|e| {
                    let mut text = e.to_string();
                    // reqwest's reason (a certificate, a refused connection) is not in rmcp's
                    // message.
                    if http.url.starts_with("https:") && text.contains("error sending request") {
                        text.push_str(
                            " (for an https URL this is often TLS: is the server's certificate issued by a trusted CA (tls.ca_file) for this name (tls.server_name), and does the server require a client certificate (tls.client_cert_file)?)",
                        );
                    }
                    ConnectError::Handshake(text)
                })?;
            (running, None)
        }
    };
    let peer = running.peer().clone();
    // The gateway caches lists itself and must never answer one client from another's
    // cached result.
    peer.set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    let capabilities = peer
        .peer_info()
        .map(|i| i.capabilities.clone())
        .unwrap_or_default();
    let stateless = peer
        .peer_info()
        .is_some_and(|i| i.protocol_version >= rmcp::model::ProtocolVersion::V_2026_07_28);
    // A stateless (2026-07-28 or later) HTTP upstream's `tools/call` may take the lean path.
    let lean = match (lean, peer.peer_info()) {
        (Some(mut settings), Some(info))
            if info.protocol_version >= rmcp::model::ProtocolVersion::V_2026_07_28 =>
        {
            settings.version = info.protocol_version.clone();
            Lean::new(settings)
        }
        _ => None,
    };
    let stop = running.cancellation_token();
    let ended = CancellationToken::new();
    let task = {
        let ended = ended.clone();
        let name = hub.name.clone();
        tokio::spawn(async move {
            let reason = running.waiting().await;
            tracing::debug!(upstream = %name, ?reason, "upstream session ended");
            ended.cancel();
        })
    };
    Ok(Arc::new(Connection {
        peer,
        routes,
        capabilities,
        declared,
        stateless,
        pid,
        fault,
        lean,
        stop: Mutex::new(Some(stop)),
        ended,
        task: Mutex::new(Some(task)),
    }))
}

/// Longest stderr line logged; the rest is cut (a server must not flood the log).
const MAX_STDERR_LINE: usize = 4096;

/// Logs a stdio server's stderr, one line per event, under its source name.
async fn log_stderr(name: Arc<str>, stderr: tokio::process::ChildStderr) {
    let mut lines = tokio::io::BufReader::new(stderr).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let text = String::from_utf8_lossy(&line[..line.len().min(MAX_STDERR_LINE)]);
        let text = text.trim_end();
        if !text.is_empty() {
            tracing::info!(target: "toolgate::upstream::stderr", upstream = %name, "{text}");
        }
    }
}
