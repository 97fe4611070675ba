//! Test helpers: keys generated per test with aws-lc-rs, a JWS signer written against RFC 7515
//! (independent of the verifier, so tests can also forge `alg: none` and confusion tokens),
//! and a real HTTP identity provider (axum on 127.0.0.1:0) serving an OIDC discovery
//! document, a JWKS (with a fetch counter and a settable `Cache-Control`) and an RFC 7662
//! introspection endpoint.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use toolgate_auth::{AuthConfig, ResourceAuth};
use toolgate_core::{Principal, Refusal};

pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const HS_SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signing key of each kind.
pub enum Key {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Key {
    pub fn rsa() -> Key {
        Key::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
    }
    pub fn p256() -> Key {
        Key::P256(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    pub fn p384() -> Key {
        Key::P384(EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap())
    }
    pub fn ed25519() -> Key {
        Key::Ed(Ed25519KeyPair::generate().unwrap())
    }

    /// The public JWK (no `alg` unless given).
    pub fn jwk(&self, kid: &str, alg: Option<&str>) -> Value {
        let mut jwk = match self {
            Key::Rsa(k) => {
                let public = k.public_key();
                json!({"kty": "RSA", "n": b64(public.modulus().big_endian_without_leading_zero()),
                       "e": b64(public.exponent().big_endian_without_leading_zero())})
            }
            Key::P256(k) | Key::P384(k) => {
                let point = k.public_key().as_ref();
                let n = (point.len() - 1) / 2;
                let crv = if n == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + n]), "y": b64(&point[1 + n..])})
            }
            Key::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        };
        jwk["kid"] = kid.into();
        jwk["use"] = "sig".into();
        if let Some(alg) = alg {
            jwk["alg"] = alg.into();
        }
        jwk
    }

    /// The RSA public key's bytes (what an HS/RS confusion attacker signs with).
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            Key::Rsa(k) => k.public_key().as_ref().to_vec(),
            Key::P256(k) | Key::P384(k) => k.public_key().as_ref().to_vec(),
            Key::Ed(k) => k.public_key().as_ref().to_vec(),
        }
    }

    pub fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Key::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("RSA cannot sign {other}"),
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut sig).unwrap();
                sig
            }
            Key::P256(k) | Key::P384(k) => k.sign(&rng, message).unwrap().as_ref().to_vec(),
            Key::Ed(k) => k.sign(message).as_ref().to_vec(),
        }
    }
}

/// `header.payload.signature` with `sign` producing the signature bytes.
pub fn token_with(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = sign(message.as_bytes());
    format!("{message}.{}", b64(sig))
}

/// A token signed by `key` with `alg` and `kid`.
pub fn token(key: &Key, alg: &str, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
    token_with(&header, claims, |m| key.sign(alg, m))
}

pub fn hmac(alg: &str, secret: &[u8], message: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
        "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
        _ => aws_lc_rs::hmac::HMAC_SHA512,
    };
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(algorithm, secret), message)
        .as_ref()
        .to_vec()
}

/// Claims that pass every check for an IdP at `issuer`.
pub fn claims(issuer: &str) -> Value {
    json!({"iss": issuer, "aud": RESOURCE, "sub": "alice", "exp": now() + 600, "iat": now(),
           "scope": "tools:read tools:call"})
}

/// The identity provider's mutable state.
#[derive(Default)]
pub struct IdpState {
    pub issuer: Mutex<String>,
    pub jwks: Mutex<Value>,
    pub cache_control: Mutex<Option<String>>,
    pub discovery_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
    pub introspections: AtomicUsize,
    /// Opaque token → introspection answer.
    pub opaque: Mutex<HashMap<String, Value>>,
}

/// A running identity provider.
pub struct Idp {
    pub base: String,
    pub state: Arc<IdpState>,
}

pub const CLIENT_ID: &str = "toolgate";
pub const CLIENT_SECRET: &str = "s3cret:with/odd&chars";

impl Idp {
    pub async fn start(keys: Value) -> Idp {
        let state = Arc::new(IdpState::default());
        *state.jwks.lock().unwrap() = keys;
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/introspect", post(introspect))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        *state.issuer.lock().unwrap() = base.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Idp { base, state }
    }

    pub fn issuer(&self) -> String {
        self.base.clone()
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.base)
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn set_jwks(&self, keys: Value) {
        *self.state.jwks.lock().unwrap() = keys;
    }
}

async fn discovery(State(state): State<Arc<IdpState>>) -> impl IntoResponse {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = state.issuer.lock().unwrap().clone();
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
    }))
}

async fn jwks(State(state): State<Arc<IdpState>>) -> impl IntoResponse {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let body = state.jwks.lock().unwrap().to_string();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    if let Some(cc) = state.cache_control.lock().unwrap().as_deref() {
        headers.insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    (headers, body)
}

/// RFC 7662 §2: client authentication required, form-encoded `token`.
async fn introspect(
    State(state): State<Arc<IdpState>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    state.introspections.fetch_add(1, Ordering::SeqCst);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(CLIENT_ID), enc(CLIENT_SECRET)))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let answer = state
        .opaque
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or_else(|| json!({"active": false}));
    axum::Json(answer).into_response()
}

/// `ResourceAuth` from a YAML `auth:` section.
pub async fn auth(yaml: &str) -> ResourceAuth {
    let config: AuthConfig = serde_norway::from_str(yaml).unwrap();
    ResourceAuth::new(&config, RESOURCE).await.unwrap()
}

/// Authenticates a request with the given `Authorization` value.
pub async fn bearer(auth: &ResourceAuth, token: &str) -> Result<Arc<Principal>, Refusal> {
    let request = http::Request::builder()
        .uri("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    auth.authenticate_parts(&request.into_parts().0).await
}

/// Refusal of `token`, checked never to echo it.
pub async fn refused(auth: &ResourceAuth, token: &str) -> Refusal {
    let refusal = bearer(auth, token)
        .await
        .expect_err("the token must be refused");
    if token.len() > 12 {
        assert!(
            !refusal.description.contains(token),
            "the refusal echoes the token: {}",
            refusal.description
        );
    }
    refusal
}

/// The text exposition of `auth`'s metrics.
pub fn metrics_text(auth: &ResourceAuth) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    auth.register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}
