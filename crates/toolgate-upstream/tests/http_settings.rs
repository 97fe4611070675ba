//! Settings of HTTP upstreams against real servers (rmcp streamable HTTP servers):
//!
//! - TLS, behind tokio-rustls with a CA, server and client certificates generated here
//!   (rcgen): an unknown CA is refused, `tls.ca_file` is trusted, a server that requires a
//!   client certificate gets it from `client_cert_file`/`client_key_file`, `server_name` is
//!   the name verified for an IP URL, and `insecure_skip_verify` skips verification;
//! - OAuth2 client credentials, with a token endpoint that checks the client's secret and a
//!   server that accepts only the tokens it issued: one token serves the whole session, a
//!   wrong secret is reported with the token endpoint and never echoed.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rmcp::ServerHandler;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use toolgate_upstream::{McpSourceConfig, Phase, Upstream};

#[derive(Clone)]
struct Empty;

impl ServerHandler for Empty {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki(server_names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(server_names.iter().map(|s| (*s).to_owned()).collect());
    let (client_cert, client_key) = leaf(vec!["toolgate-client".to_owned()]);
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

/// Serves an empty MCP server over TLS on a free port; with `client_ca`, only clients with a
/// certificate it issued are accepted. Returns the port.
async fn serve_tls(pki: &Pki, require_client_cert: bool) -> u16 {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let service = StreamableHttpService::new(
        || Ok(Empty),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let app = axum::Router::new().route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                // A refused handshake is what some tests expect.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    port
}

/// Starts an upstream for `transport`, returns its phase and last error, and stops it.
async fn start(dir: &Path, transport: serde_json::Value) -> (Phase, Option<String>) {
    let config: McpSourceConfig = serde_json::from_value(serde_json::json!({
        "name": "secure",
        "transport": transport,
        "restart": {"initial_backoff_ms": 60000},
        "timeouts": {"connect_ms": 10000},
    }))
    .unwrap();
    let problems = config.problems("sources[0]");
    assert!(problems.is_empty(), "{problems:?}");
    let catalog = toolgate_core::catalog::shared(toolgate_core::Catalog::default());
    let assembly = toolgate_core::Assembly::new(catalog, None);
    let upstream = Upstream::new(config, dir, assembly, Default::default()).unwrap();
    upstream.start().await;
    let status = upstream.status();
    upstream.stop().await;
    (status.phase, status.last_error)
}

fn write(dir: &Path, pki: &Pki) {
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.join("client.pem"), &pki.client_cert).unwrap();
    std::fs::write(dir.join("client.key"), &pki.client_key).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_only_when_configured() {
    let dir = tempdir();
    let pki = pki(&["localhost"]);
    write(dir.path(), &pki);
    let port = serve_tls(&pki, false).await;
    let url = format!("https://localhost:{port}/mcp");

    let (phase, error) = start(dir.path(), serde_json::json!({"type": "http", "url": url})).await;
    assert_eq!(phase, Phase::Down, "an unknown CA is refused: {error:?}");
    assert!(
        error.unwrap().contains("tls.ca_file"),
        "the error hints at TLS"
    );

    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": url, "tls": {"ca_file": "ca.pem"}}),
    )
    .await;
    assert_eq!(phase, Phase::Ready, "{error:?}");

    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": url, "tls": {"insecure_skip_verify": true}}),
    )
    .await;
    assert_eq!(phase, Phase::Ready, "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_certificate() {
    let dir = tempdir();
    let pki = pki(&["localhost"]);
    write(dir.path(), &pki);
    let port = serve_tls(&pki, true).await;
    let url = format!("https://localhost:{port}/mcp");

    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": url, "tls": {"ca_file": "ca.pem"}}),
    )
    .await;
    assert_eq!(phase, Phase::Down, "no client certificate: {error:?}");

    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": url, "tls": {
            "ca_file": "ca.pem",
            "client_cert_file": "client.pem",
            "client_key_file": "client.key",
        }}),
    )
    .await;
    assert_eq!(phase, Phase::Ready, "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_is_the_name_verified_for_an_ip_url() {
    let dir = tempdir();
    let pki = pki(&["mcp.internal"]);
    write(dir.path(), &pki);
    let port = serve_tls(&pki, false).await;
    let url = format!("https://127.0.0.1:{port}/mcp");

    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": url, "tls": {"ca_file": "ca.pem"}}),
    )
    .await;
    assert_eq!(
        phase,
        Phase::Down,
        "the IP is not the certificate's name: {error:?}"
    );

    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": url, "tls": {"ca_file": "ca.pem", "server_name": "mcp.internal"}}),
    )
    .await;
    assert_eq!(phase, Phase::Ready, "{error:?}");
}

#[test]
fn bad_tls_settings_are_reported_with_their_path() {
    let config: McpSourceConfig = serde_json::from_value(serde_json::json!({
        "name": "secure",
        "transport": {"type": "http", "url": "https://mcp.example.com/mcp",
            "tls": {"client_cert_file": "c.pem", "server_name": "x.internal"}},
    }))
    .unwrap();
    let problems = format!("{:?}", config.problems("sources[0]"));
    assert!(
        problems.contains("sources[0].transport.tls.server_name"),
        "{problems}"
    );
    assert!(
        problems.contains("`client_cert_file` and `client_key_file` go together"),
        "{problems}"
    );

    let dir = tempdir();
    let config: McpSourceConfig = serde_json::from_value(serde_json::json!({
        "name": "secure",
        "transport": {"type": "http", "url": "https://mcp.example.com/mcp", "tls": {"ca_file": "missing.pem"}},
    }))
    .unwrap();
    let catalog = toolgate_core::catalog::shared(toolgate_core::Catalog::default());
    let assembly = toolgate_core::Assembly::new(catalog, None);
    let error = Upstream::new(config, dir.path(), assembly, Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("source `secure`: cannot read CA file"),
        "{error}"
    );
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A token endpoint (client `toolgate`, secret `s3cret`, HTTP Basic) and an MCP server that
/// accepts only its tokens: the base URL and the number of tokens issued.
async fn oauth2_servers() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::http::{HeaderMap, StatusCode};
    use base64::Engine as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let token = move |headers: HeaderMap, body: String| {
        let counter = counter.clone();
        async move {
            let basic = base64::engine::general_purpose::STANDARD.encode("toolgate:s3cret");
            let authorized = headers
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == format!("Basic {basic}").as_bytes());
            if !authorized || !body.contains("grant_type=client_credentials") {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({"error": "invalid_client"})),
                );
            }
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({
                    "access_token": format!("issued-token-{n}"),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                })),
            )
        }
    };
    let service = StreamableHttpService::new(
        || Ok(Empty),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let guarded =
        axum::Router::new()
            .route_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                |request: axum::extract::Request, next: axum::middleware::Next| async move {
                    let ok = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("Bearer issued-token-"));
                    if ok {
                        next.run(request).await
                    } else {
                        axum::response::IntoResponse::into_response(StatusCode::UNAUTHORIZED)
                    }
                },
            ));
    let app = guarded.route("/token", axum::routing::post(token));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), issued)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_credentials_fetch_one_token_for_the_session() {
    let dir = tempdir();
    let (base, issued) = oauth2_servers().await;
    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": format!("{base}/mcp"), "oauth2": {
            "token_url": format!("{base}/token"),
            "client_id": "toolgate",
            "client_secret": "s3cret",
        }}),
    )
    .await;
    assert_eq!(phase, Phase::Ready, "{error:?}");
    // Discovery, initialize, the lists: all with the one cached token.
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Without a token the server refuses.
    let (phase, _) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": format!("{base}/mcp")}),
    )
    .await;
    assert_eq!(phase, Phase::Down);

    let (phase, error) = start(
        dir.path(),
        serde_json::json!({"type": "http", "url": format!("{base}/mcp"), "oauth2": {
            "token_url": format!("{base}/token?tenant=x"),
            "client_id": "toolgate",
            "client_secret": "wrong-secret-value",
        }}),
    )
    .await;
    assert_eq!(phase, Phase::Down);
    let error = error.unwrap();
    assert!(
        error.contains("cannot get an OAuth2 token") && error.contains(&format!("{base}/token")),
        "{error}"
    );
    assert!(!error.contains("wrong-secret-value"), "{error}");
}
