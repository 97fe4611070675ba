//! The configuration of one upstream MCP server (a source of `kind: mcp`): how to reach it,
//! the session model, lifecycle and resilience settings, naming and curation.
//!
//! These types are part of toolgate's YAML configuration (`deny_unknown_fields`, `JsonSchema`);
//! their `///` docs are the user reference. Values written `${VAR}` are interpolated (and
//! kept out of every message) by the configuration loader before they reach these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The curation vocabulary, shared by every kind of source (`toolgate_core::curation`).
pub use toolgate_core::curation::{AnnotationOverride, ArgumentValues, Selection, ToolCuration};

/// One upstream MCP server served through the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpSourceConfig {
    /// Source name: used in logs, metrics, `/readyz`, and as the default namespace of its
    /// tools and prompts. `[a-z0-9_-]+`.
    pub name: String,
    /// How the server is reached: a command toolgate starts (`type: stdio`) or a streamable
    /// HTTP endpoint (`type: http`).
    pub transport: Transport,
    /// How client sessions map to upstream sessions.
    #[serde(default)]
    pub session: SessionModel,
    /// Most upstream sessions (and, over stdio, processes) at once with `session: per_client`;
    /// the least recently used idle one is closed to make room, and a client finding every
    /// one busy is told to retry.
    #[serde(default = "default_max_client_sessions")]
    pub max_client_sessions: usize,
    /// When the server is started or connected: at gateway start (`eager`, its tools are
    /// listed from the first request) or on first use (`lazy`, listed only once used).
    #[serde(default)]
    pub start: StartMode,
    /// Prefix of every tool and prompt name (`<namespace>_<name>`). Default: the source
    /// name; `""` serves the server's names unchanged.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Maximum length of a served name, namespace included (the OpenAPI sources' rule:
    /// longer names keep their head and end in a hash).
    #[serde(default = "default_max_name_length")]
    pub max_name_length: usize,
    /// Serve resource URIs as `<source>+<uri>` so two servers' URIs never collide (the
    /// gateway strips the prefix before asking the server). Off: URIs are served unchanged,
    /// and a URI another source serves already is left out (reported at start).
    #[serde(default = "yes")]
    pub rewrite_resource_uris: bool,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Largest message accepted from the server, in bytes (one stdio line, one SSE event;
    /// JSON bodies over HTTP are capped at 16 MiB by the client). A stdio server that sends
    /// more has its session closed (requests in flight fail with a message naming it and
    /// the cap) and is restarted.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Restarts after the server dies or the connection is lost.
    #[serde(default)]
    pub restart: Restart,
    /// Re-read the server's lists this often (seconds), beside its `list_changed`
    /// notifications and after each restart. `0` = only on notifications and restarts.
    #[serde(default = "default_refresh_seconds")]
    pub refresh_seconds: u64,
    /// Send `ping` this often (seconds) to notice a server that hangs; `0` = never.
    #[serde(default = "default_ping_seconds")]
    pub ping_seconds: u64,
    /// While the server is down: `fail_open` takes its tools, resources and prompts out of
    /// the lists (with a warning) until it is back; `fail_closed` keeps them listed and
    /// answers calls with an "unavailable" error.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// What the gateway declares it supports to the server under `session: shared` (with
    /// `per_client`, each upstream session declares what its client declared). A server may
    /// offer some tools only to clients that support sampling or elicitation. To a
    /// 2026-07-28 server, each request declares those of these its caller declared too.
    #[serde(default)]
    pub client_capabilities: ClientFeatures,
    /// The roots answered to a `roots/list` the server sends outside any call under
    /// `session: shared` (no client to ask then).
    #[serde(default)]
    pub roots: Vec<RootConfig>,
    /// Which tools are served, and how they are presented.
    #[serde(default)]
    pub tools: ToolCuration,
    /// Which prompts are served.
    #[serde(default)]
    pub prompts: Selection,
    /// Which resources and resource templates are served (matched on the server's URIs).
    #[serde(default)]
    pub resources: Selection,
    /// How `tools/list` shows this server's tools (`full`, `meta`, `auto` counted over its
    /// tools), whatever `server.tool_mode` says. Absent: as the server. See
    /// docs/large-apis.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_mode: Option<toolgate_core::ToolMode>,
}

fn default_max_client_sessions() -> usize {
    16
}
fn default_max_message_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_max_name_length() -> usize {
    64
}
fn default_refresh_seconds() -> u64 {
    300
}
fn default_ping_seconds() -> u64 {
    30
}
fn yes() -> bool {
    true
}

/// How an upstream server is reached.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transport {
    /// A command toolgate starts, speaking MCP on its stdin/stdout. Its stderr goes to
    /// toolgate's log, each line tagged with the source name.
    Stdio {
        /// The program (looked up on `PATH` when not a path).
        command: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Environment variables set for it (`${VAR}` takes one from toolgate's environment).
        /// Only these and the variables in `inherit_env` are passed: the gateway's own
        /// environment (and its secrets) is not.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Variables of toolgate's environment passed through unchanged.
        #[serde(default = "default_inherit_env")]
        inherit_env: Vec<String>,
        /// Working directory (relative to the configuration file). Default: toolgate's.
        #[serde(default)]
        cwd: Option<String>,
    },
    /// A streamable HTTP endpoint (2025-11-25 sessions, re-initialized transparently when the
    /// server loses them, and stateless 2026-07-28 servers).
    Http {
        /// The MCP endpoint, e.g. `https://mcp.example.com/mcp`.
        url: String,
        /// Headers sent with every request (e.g. an API key header). Values may use `${VAR}`.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// A bearer token sent as `Authorization: Bearer <token>` (use `${VAR}`).
        #[serde(default)]
        bearer_token: Option<Secret>,
        /// OAuth2 client credentials (RFC 6749 §4.4): a token is fetched from `token_url`,
        /// cached until shortly before it expires and sent as `Authorization: Bearer`; a 401
        /// makes the next request fetch a new one. Not with `bearer_token`.
        #[serde(default)]
        oauth2: Option<Box<OAuth2ClientCredentials>>,
        /// Requests in flight to this server at once (shared by every client).
        #[serde(default = "default_max_concurrent_requests")]
        max_concurrent_requests: usize,
        /// A PEM file of extra CA certificates to trust (relative to the configuration file);
        /// shorthand for `tls.ca_file`.
        #[serde(default)]
        ca_file: Option<String>,
        /// TLS settings for an `https` URL: extra CAs, a client certificate (mutual TLS),
        /// the name to verify, and (for tests only) skipping verification.
        #[serde(default)]
        tls: Box<TlsSettings>,
        /// Which protocol era to speak: `auto` probes 2026-07-28 (`server/discover`) and falls
        /// back to `initialize`; `legacy` always initializes a session.
        #[serde(default)]
        protocol: ProtocolChoice,
    },
}

/// OAuth2 client credentials of an HTTP upstream (the token client of the OpenAPI sources'
/// `oauth2_client_credentials`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2ClientCredentials {
    /// The token endpoint, e.g. `https://auth.example.com/oauth/token`.
    pub token_url: String,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret` (use `${VAR}`).
    pub client_secret: Secret,
    /// Scopes asked for (`scope`, space-separated on the wire).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The `audience` form field, for providers that want one.
    #[serde(default)]
    pub audience: Option<String>,
    /// How the client id and secret are sent: `basic` (HTTP Basic, default) or `post` (in
    /// the form).
    #[serde(default)]
    pub client_auth: toolgate_http::options::ClientAuthMethod,
}

/// TLS settings of an HTTP upstream. Paths are relative to the configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// A PEM file of CA certificates to trust besides the system's (e.g. a private CA).
    pub ca_file: Option<String>,
    /// A PEM file with the client certificate (and its chain) presented to the server
    /// (mutual TLS); needs `client_key_file`.
    pub client_cert_file: Option<String>,
    /// A PEM file with the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub client_key_file: Option<String>,
    /// The name the server's certificate is verified against (and sent as SNI) when the
    /// URL holds an IP address, e.g. `mcp.internal` for `https://10.0.0.5:8443/mcp`.
    pub server_name: Option<String>,
    /// Accept any server certificate. Disables the protection TLS gives against an attacker
    /// on the network: for tests only; logged as an error at every start.
    pub insecure_skip_verify: bool,
}

fn default_inherit_env() -> Vec<String> {
    // What the MCP SDKs pass to stdio servers by default.
    [
        "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "TMPDIR",
    ]
    .map(String::from)
    .to_vec()
}

fn default_max_concurrent_requests() -> usize {
    16
}

/// The protocol era spoken to an HTTP upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolChoice {
    /// Try 2026-07-28, fall back to a 2025-11-25 session.
    #[default]
    Auto,
    /// Always a 2025-11-25 (or older) session.
    Legacy,
}

/// A credential that never prints nor serializes (toolgate-http's, one type for every source).
pub use toolgate_http::options::Secret;

/// How client sessions map to upstream sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionModel {
    /// One upstream session (over stdio, one process) for every client; toolgate keeps what
    /// is per client (log levels, subscriptions, which client a server request belongs to).
    /// Cheapest; right for servers that keep no per-client state.
    #[default]
    Shared,
    /// One upstream session (over stdio, one process) per client session, from a bounded
    /// pool, declaring that client's capabilities: for servers that keep per-client state
    /// (roots, a working directory) or ask the client things outside calls.
    PerClient,
}

/// When an upstream is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    /// At gateway start; the gateway waits (up to the connect timeout) for its lists.
    #[default]
    Eager,
    /// On first use of one of its tools (its tools are listed once it has run).
    Lazy,
}

/// What happens to an upstream's entries while it is down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Its entries leave the lists until it is back.
    #[default]
    FailOpen,
    /// Its entries stay listed; calls get an "unavailable" error.
    FailClosed,
}

/// Timeouts of one upstream.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Starting (or connecting to) the server and reading its lists, in milliseconds.
    pub connect_ms: u64,
    /// One request without progress, in milliseconds (each progress notification restarts
    /// it).
    pub call_ms: u64,
    /// One request in total, progress or not, in milliseconds.
    pub max_call_ms: u64,
    /// How long a stopping stdio server may take to exit after its stdin closes and after
    /// SIGTERM, before it is killed, in milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: 30_000,
            call_ms: 60_000,
            max_call_ms: 600_000,
            shutdown_grace_ms: 3_000,
        }
    }
}

/// Restarts with exponential backoff.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Restart {
    /// Wait before the first restart, in milliseconds; doubled after each failure.
    pub initial_backoff_ms: u64,
    /// Longest wait between restarts, in milliseconds.
    pub max_backoff_ms: u64,
    /// A server that stayed up this long (milliseconds) starts again from the initial wait.
    pub reset_after_ms: u64,
}

impl Default for Restart {
    fn default() -> Self {
        Restart {
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            reset_after_ms: 60_000,
        }
    }
}

/// Client features the gateway declares to a shared upstream session.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientFeatures {
    /// `sampling`: the server may ask the calling client's model for a completion.
    pub sampling: bool,
    /// `elicitation`: the server may ask the calling client's user for input.
    pub elicitation: bool,
    /// `roots`: the server may ask for the client's roots.
    pub roots: bool,
}

impl Default for ClientFeatures {
    fn default() -> Self {
        ClientFeatures {
            sampling: true,
            elicitation: true,
            roots: true,
        }
    }
}

/// A root answered to a server's `roots/list`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RootConfig {
    /// The root's URI, e.g. `file:///srv/project`.
    pub uri: String,
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
}

impl McpSourceConfig {
    /// The namespace of names: the configured one, else the source name; `None` for `""`.
    pub fn namespace(&self) -> Option<&str> {
        match self.namespace.as_deref() {
            Some("") => None,
            Some(ns) => Some(ns),
            None => Some(&self.name),
        }
    }

    /// Problems the schema cannot express, each with its location under `at`.
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match &self.transport {
            Transport::Stdio { command, .. } if command.trim().is_empty() => out.push((
                format!("{at}.transport.command"),
                "is empty: give the program that starts the server, e.g. `npx`".to_owned(),
            )),
            Transport::Stdio { .. } => {}
            Transport::Http {
                url,
                headers,
                ca_file,
                tls,
                bearer_token,
                oauth2,
                ..
            } => {
                if let Some(o) = oauth2 {
                    if bearer_token.is_some() {
                        out.push((
                            format!("{at}.transport.oauth2"),
                            "and `bearer_token` both set `Authorization`: keep one".to_owned(),
                        ));
                    }
                    if !url::Url::parse(&o.token_url)
                        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                    {
                        out.push((
                            format!("{at}.transport.oauth2.token_url"),
                            "is not an absolute http(s) URL such as https://auth.example.com/oauth/token"
                                .to_owned(),
                        ));
                    }
                }
                match url::Url::parse(url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                        if tls.server_name.is_some()
                            && !matches!(u.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
                        {
                            out.push((
                                format!("{at}.transport.tls.server_name"),
                                "needs an IP address in `url` (with a host name, the name in the URL is the one verified)"
                                    .to_owned(),
                            ));
                        }
                    }
                    _ => out.push((
                        format!("{at}.transport.url"),
                        "is not an absolute http(s) URL such as http://127.0.0.1:3000/mcp"
                            .to_owned(),
                    )),
                }
                if ca_file.is_some() && tls.ca_file.is_some() {
                    out.push((
                        format!("{at}.transport.ca_file"),
                        "is set twice (also as tls.ca_file): keep one".to_owned(),
                    ));
                }
                if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
                    out.push((
                        format!("{at}.transport.tls"),
                        "`client_cert_file` and `client_key_file` go together: give both or neither"
                            .to_owned(),
                    ));
                }
                for (name, value) in headers {
                    if http::HeaderName::try_from(name.as_str()).is_err() {
                        out.push((
                            format!("{at}.transport.headers"),
                            format!("`{name}` is not a valid HTTP header name"),
                        ));
                    } else if http::HeaderValue::try_from(value.as_str()).is_err() {
                        // The value may be a secret: never quoted.
                        out.push((
                            format!("{at}.transport.headers.{name}"),
                            "is not a valid HTTP header value (control characters or line breaks)"
                                .to_owned(),
                        ));
                    }
                }
            }
        }
        for (field, selection) in [
            (
                "tools",
                Selection {
                    allow: self.tools.allow.clone(),
                    deny: self.tools.deny.clone(),
                },
            ),
            ("prompts", self.prompts.clone()),
            ("resources", self.resources.clone()),
        ] {
            out.extend(toolgate_core::curation::glob_problems(
                at,
                field,
                &selection.allow,
                &selection.deny,
            ));
        }
        if self.max_message_bytes < 1024 {
            out.push((
                format!("{at}.max_message_bytes"),
                "must be at least 1024".to_owned(),
            ));
        }
        if self.max_name_length < 8 {
            out.push((
                format!("{at}.max_name_length"),
                "must be at least 8".to_owned(),
            ));
        }
        if self.session == SessionModel::PerClient && self.max_client_sessions == 0 {
            out.push((
                format!("{at}.max_client_sessions"),
                "must be at least 1".to_owned(),
            ));
        }
        out
    }
}
