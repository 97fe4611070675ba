//! The HTTP client of a streamable HTTP upstream: pooled connections (keep-alive, HTTP/2 when
//! offered, TCP_NODELAY) and its TLS settings: extra CAs, a client certificate (mutual TLS),
//! the name verified when the URL holds an IP address, and skipping verification (tests
//! only, logged as an error). Built once per upstream at setup, so a bad file is reported
//! when the gateway starts, with the option's path. Also the transport of the lean
//! `tools/call` (`upstream/lean/`): toolgate-http's, as for OpenAPI backends (for an `http://`
//! URL, connections driven by the calling task; reqwest re-parses the URL twice per request)
//! when the upstream has no TLS settings of its own, else this client. Does not own: the MCP session
//! (`connect.rs`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use toolgate_http::transport::{BackendClients, Transport};
use toolgate_http::{ClientAuth, Grant, ProxyEnv, TokenSource};

use crate::config::{OAuth2ClientCredentials, TlsSettings};

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client and the URL to use for one HTTP upstream (the URL's host is the configured
/// `tls.server_name`, resolved to the URL's IP address, when one is set).
#[derive(Clone)]
pub(crate) struct HttpUpstream {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    /// Where its OAuth2 tokens come from, if it uses OAuth2.
    pub(crate) tokens: Option<Arc<TokenSource>>,
    /// How the lean `tools/call` reaches it (`upstream/lean/`): toolgate-http's transport, as
    /// an OpenAPI backend is reached, unless the upstream has TLS settings of its
    /// own (then `client`, built with them) or is behind a proxy (reqwest).
    pub(crate) transport: Transport,
}

/// The token source of `oauth2`.
fn token_source(oauth2: &OAuth2ClientCredentials) -> Result<Arc<TokenSource>, String> {
    let token_url = url::Url::parse(&oauth2.token_url)
        .map_err(|e| format!("transport.oauth2.token_url is not a URL: {e}"))?;
    Ok(Arc::new(TokenSource::new(
        token_url,
        Grant::ClientCredentials {
            audience: oauth2.audience.clone(),
        },
        oauth2.scopes.clone(),
        Some(ClientAuth {
            id: oauth2.client_id.clone(),
            secret: Some(toolgate_http::options::Secret::new(
                oauth2.client_secret.expose(),
            )),
            method: oauth2.client_auth,
        }),
    )))
}

fn read(base_dir: &Path, file: &str, what: &str) -> Result<Vec<u8>, String> {
    let path = base_dir.join(file);
    std::fs::read(&path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

/// Builds the client for `url` with `tls` (and the older `ca_file` shorthand) and `oauth2`;
/// files are relative to `base_dir`.
pub(crate) fn build(
    name: &str,
    url: &str,
    ca_file: Option<&str>,
    tls: &TlsSettings,
    oauth2: Option<&OAuth2ClientCredentials>,
    base_dir: &Path,
) -> Result<HttpUpstream, String> {
    let tokens = oauth2.map(token_source).transpose()?;
    let mut builder = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(file) = ca_file.or(tls.ca_file.as_deref()) {
        let pem = read(base_dir, file, "CA file")?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("CA file {file} is not PEM: {e}"))?;
        if certs.is_empty() {
            return Err(format!("CA file {file} holds no certificate"));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert_file, &tls.client_key_file) {
        let mut pem = read(base_dir, cert, "client certificate file")?;
        pem.push(b'\n');
        // The key's content is never quoted in an error.
        pem.extend(read(base_dir, key, "client key file")?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            format!("tls.client_cert_file {cert} with tls.client_key_file {key}: not a PEM certificate and private key ({e})")
        })?;
        builder = builder.identity(identity);
    }
    if tls.insecure_skip_verify {
        tracing::error!(
            upstream = %name,
            "tls.insecure_skip_verify is set: the server's certificate is NOT verified, anyone on the network path can impersonate it; use tls.ca_file instead outside tests"
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    let mut url = url.to_owned();
    if let Some(server_name) = &tls.server_name {
        let mut parsed =
            url::Url::parse(&url).map_err(|e| format!("transport.url is not a URL: {e}"))?;
        let ip: std::net::IpAddr = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.into(),
            Some(url::Host::Ipv6(ip)) => ip.into(),
            _ => return Err("tls.server_name needs an IP address in transport.url".to_owned()),
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        parsed
            .set_host(Some(server_name))
            .map_err(|e| format!("tls.server_name `{server_name}` is not a host name: {e}"))?;
        builder = builder.resolve(server_name, SocketAddr::new(ip, port));
        url = parsed.to_string();
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let own_tls = ca_file.is_some()
        || tls.ca_file.is_some()
        || tls.client_cert_file.is_some()
        || tls.insecure_skip_verify
        || tls.server_name.is_some();
    let transport = if own_tls {
        Transport::Proxied(client.clone())
    } else {
        let parsed =
            url::Url::parse(&url).map_err(|e| format!("transport.url is not a URL: {e}"))?;
        BackendClients::new(CONNECT_TIMEOUT, &ProxyEnv::from_process())?.transport(&parsed)
    };
    Ok(HttpUpstream {
        client,
        url,
        tokens,
        transport,
    })
}
