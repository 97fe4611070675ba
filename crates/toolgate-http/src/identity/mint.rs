//! JWTs minted by toolgate for a backend: toolgate's own signing key (from a PEM file or
//! generated at start), the claims (`iss`, `aud`, `sub`, `scope`, `iat`, `exp`, `jti` and the
//! configured copies of the caller's claims), the per-caller cache, and the public key as a
//! JWK for toolgate's JWKS document.
//!
//! Signing and the JWK come from `jsonwebtoken` (on aws-lc-rs, which rustls already builds);
//! key generation from aws-lc-rs. A token is cached per caller (a hash of subject, scopes and
//! the copied claims) until a quarter of its lifetime (at most 30 s) is left, so the backend
//! always gets a token with time to spare; `moka` loads each caller's token once however many
//! calls race for it. The private key never leaves this module and is never printed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue};
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use toolgate_core::context::Principal;
use toolgate_core::error::{ToolError, ToolErrorKind};

use crate::auth::sensitive;
use crate::options::{MintAlgorithm, MintOptions, identity as limits};

/// Claims toolgate sets itself; `copy_claims` may not name them.
pub(crate) const REGISTERED: &[&str] = &["iss", "aud", "sub", "scope", "iat", "exp", "nbf", "jti"];
/// Most callers whose tokens are kept at once.
const CACHE_CAPACITY: u64 = 10_000;
/// The longest a token is kept back before its expiry (less for short lifetimes: a quarter).
const MAX_SPARE: Duration = Duration::from_secs(30);

/// One source's minting: key, claims template, cache.
pub(crate) struct Minter {
    issuer: String,
    audience: String,
    lifetime: Duration,
    pub(crate) header: HeaderName,
    bearer: bool,
    copy_claims: Vec<String>,
    algorithm: Algorithm,
    key: EncodingKey,
    kid: String,
    jwk: Jwk,
    cache: moka::future::Cache<[u8; 32], HeaderValue>,
    /// Tokens signed so far (observability and tests).
    pub(crate) minted: AtomicU64,
    /// The key file's text, to register with the binary's redactor.
    pub(crate) key_text: Option<String>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Minter {
    /// Builds the minter; every problem is pushed onto `problems` (paths named from `at`).
    pub(crate) fn new(
        options: &MintOptions,
        default_audience: &str,
        at: &str,
        problems: &mut Vec<String>,
    ) -> Option<Minter> {
        let before = problems.len();
        let range = limits::MIN_MINT_LIFETIME_SECONDS..=limits::MAX_MINT_LIFETIME_SECONDS;
        if !range.contains(&options.lifetime_seconds) {
            problems.push(format!(
                "{at}.lifetime_seconds is {}; minted tokens live {} to {} seconds (short-lived \
                 tokens limit what a leaked one can do)",
                options.lifetime_seconds,
                range.start(),
                range.end()
            ));
        }
        if options.issuer.trim().is_empty() {
            problems.push(format!(
                "{at}.issuer is empty; set toolgate's issuer URL as the backend knows it"
            ));
        }
        for c in &options.copy_claims {
            if REGISTERED.contains(&c.as_str()) {
                problems.push(format!(
                    "{at}.copy_claims: `{c}` is set by toolgate itself and cannot be copied"
                ));
            }
        }
        let (header, bearer) = token_header(&options.header, &format!("{at}.header"), problems)?;
        let (algorithm, key, key_text) = load_key(options, at, problems)?;
        let mut jwk = match Jwk::from_encoding_key(&key, algorithm) {
            Ok(j) => j,
            Err(_) => {
                problems.push(format!(
                    "{at}.key_file: the key is not a usable {:?} private key",
                    options.algorithm
                ));
                return None;
            }
        };
        let kid = options
            .kid
            .clone()
            .unwrap_or_else(|| jwk.thumbprint(ThumbprintHash::SHA256));
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(match algorithm {
            Algorithm::RS256 => KeyAlgorithm::RS256,
            _ => KeyAlgorithm::ES256,
        });
        if problems.len() > before {
            return None;
        }
        let lifetime = Duration::from_secs(options.lifetime_seconds);
        let spare = MAX_SPARE.min(lifetime / 4);
        Some(Minter {
            issuer: options.issuer.clone(),
            audience: options
                .audience
                .clone()
                .unwrap_or_else(|| default_audience.to_owned()),
            lifetime,
            header,
            bearer,
            copy_claims: options.copy_claims.clone(),
            algorithm,
            key,
            kid,
            jwk,
            cache: moka::future::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(lifetime - spare)
                .build(),
            minted: AtomicU64::new(0),
            key_text,
        })
    }

    /// The public key, for the JWKS document.
    pub(crate) fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The header value carrying a token for `principal`: cached, or signed now.
    pub(crate) async fn header_value(
        &self,
        principal: &Principal,
    ) -> Result<HeaderValue, ToolError> {
        let key = self.cache_key(principal);
        self.cache
            .try_get_with(key, async { self.sign(principal, SystemTime::now()) })
            .await
            .map_err(|e| (*e).clone())
    }

    fn cache_key(&self, principal: &Principal) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(principal.subject.as_bytes());
        for s in &principal.scopes {
            h.update([0]);
            h.update(s.as_bytes());
        }
        for c in &self.copy_claims {
            h.update([1]);
            if let Some(v) = principal.claims.get(c) {
                h.update(v.to_string().as_bytes());
            }
        }
        h.finalize().into()
    }

    /// The claims of a token for `principal` issued at `now`.
    pub(crate) fn claims(&self, principal: &Principal, now: SystemTime) -> Map<String, Value> {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = Map::new();
        for c in &self.copy_claims {
            if let Some(v) = principal.claims.get(c) {
                claims.insert(c.clone(), v.clone());
            }
        }
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        claims.insert("sub".into(), principal.subject.clone().into());
        if !principal.scopes.is_empty() {
            claims.insert("scope".into(), principal.scopes.join(" ").into());
        }
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), (iat + self.lifetime.as_secs()).into());
        claims.insert(
            "jti".into(),
            uuid::Uuid::new_v4().simple().to_string().into(),
        );
        claims
    }

    fn sign(&self, principal: &Principal, now: SystemTime) -> Result<HeaderValue, ToolError> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &self.claims(principal, now), &self.key)
            .map_err(|e| {
                ToolError::new(
                    ToolErrorKind::Internal,
                    format!("could not sign the identity token for the backend: {e}"),
                )
            })?;
        self.minted.fetch_add(1, Ordering::Relaxed);
        let text = if self.bearer {
            format!("Bearer {token}")
        } else {
            token
        };
        sensitive(&text).ok_or_else(|| {
            ToolError::new(
                ToolErrorKind::Internal,
                "a signed JWT is not a header value",
            )
        })
    }
}

/// The header a token goes in, and whether it takes the `Bearer ` prefix (`Authorization`).
pub(crate) fn token_header(
    name: &str,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<(HeaderName, bool)> {
    match HeaderName::from_bytes(name.as_bytes()) {
        Ok(h) => {
            let bearer = h == http::header::AUTHORIZATION;
            Some((h, bearer))
        }
        Err(_) => {
            problems.push(format!("{at}: `{name}` is not a valid HTTP header name"));
            None
        }
    }
}

fn load_key(
    options: &MintOptions,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<(Algorithm, EncodingKey, Option<String>)> {
    let algorithm = match options.algorithm {
        MintAlgorithm::ES256 => Algorithm::ES256,
        MintAlgorithm::RS256 => Algorithm::RS256,
    };
    let Some(path) = &options.key_file else {
        if options.algorithm == MintAlgorithm::RS256 {
            problems.push(format!(
                "{at}: RS256 needs a `key_file` (only ES256 keys are generated at start)"
            ));
            return None;
        }
        return Some((algorithm, generate_es256(), None));
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!(
                "{at}.key_file: cannot read {}: {e}",
                path.display()
            ));
            return None;
        }
    };
    let parsed = match options.algorithm {
        MintAlgorithm::ES256 => EncodingKey::from_ec_pem(text.as_bytes()),
        MintAlgorithm::RS256 => EncodingKey::from_rsa_pem(text.as_bytes()),
    };
    match parsed {
        Ok(key) => Some((algorithm, key, Some(text))),
        // The error is described, never quoted: it could carry key material.
        Err(_) => {
            let want = match options.algorithm {
                MintAlgorithm::ES256 => {
                    "a P-256 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`; make one \
                     with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)"
                }
                MintAlgorithm::RS256 => {
                    "an RSA private key in PEM (`openssl genpkey -algorithm RSA -pkeyopt \
                     rsa_keygen_bits:2048`)"
                }
            };
            problems.push(format!("{at}.key_file: {} is not {want}", path.display()));
            None
        }
    }
}

/// A fresh P-256 key (PKCS#8), from aws-lc-rs's system random generator.
fn generate_es256() -> EncodingKey {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .expect("P-256 key generation does not fail");
    EncodingKey::from_ec_der(pkcs8.as_ref())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::json;
    use toolgate_core::context::AuthMethod;

    use super::*;

    fn options() -> MintOptions {
        serde_json::from_value(json!({
            "issuer": "https://toolgate.test",
            "lifetime_seconds": 120,
            "copy_claims": ["email"]
        }))
        .unwrap()
    }

    fn alice() -> Principal {
        let mut p = Principal::new("alice", vec!["a".into(), "b".into()], AuthMethod::Jwt);
        p.claims = Arc::new(
            json!({"email": "alice@example.com", "secret_stuff": 1})
                .as_object()
                .unwrap()
                .clone(),
        );
        p
    }

    #[test]
    fn minted_claims_carry_the_caller_and_the_bounds() {
        let mut problems = Vec::new();
        let m = Minter::new(&options(), "http://backend", "identity.mint", &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let c = m.claims(&alice(), now);
        assert_eq!(c["iss"], "https://toolgate.test");
        assert_eq!(c["aud"], "http://backend");
        assert_eq!(c["sub"], "alice");
        assert_eq!(c["scope"], "a b");
        assert_eq!(c["iat"], 1_000_000);
        assert_eq!(c["exp"], 1_000_120);
        assert_eq!(c["email"], "alice@example.com");
        assert!(!c.contains_key("secret_stuff"));
        assert_eq!(c["jti"].as_str().unwrap().len(), 32);
        assert_ne!(m.claims(&alice(), now)["jti"], c["jti"]);
    }

    #[tokio::test]
    async fn tokens_verify_with_the_published_jwk_and_are_cached_per_caller() {
        let mut problems = Vec::new();
        let m = Minter::new(&options(), "http://backend", "identity.mint", &mut problems).unwrap();
        let v = m.header_value(&alice()).await.unwrap();
        let token = v.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.kid.as_deref(), m.jwk().common.key_id.as_deref());
        let key = DecodingKey::from_jwk(m.jwk()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["http://backend"]);
        validation.set_issuer(&["https://toolgate.test"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "alice");
        // Same caller: the cached token; another caller: another one.
        assert_eq!(m.header_value(&alice()).await.unwrap(), v);
        assert_eq!(m.minted.load(Ordering::Relaxed), 1);
        let bob = Principal::new("bob", vec![], AuthMethod::ApiKey);
        assert_ne!(m.header_value(&bob).await.unwrap(), v);
        assert_eq!(m.minted.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn bad_mint_options_are_all_reported() {
        let o: MintOptions = serde_json::from_value(json!({
            "issuer": " ",
            "lifetime_seconds": 3600,
            "copy_claims": ["sub"],
            "header": "bad header",
            "algorithm": "RS256"
        }))
        .unwrap();
        let mut problems = Vec::new();
        assert!(Minter::new(&o, "http://b", "identity.mint", &mut problems).is_none());
        let all = problems.join("\n");
        for want in [
            "lifetime_seconds is 3600",
            "issuer is empty",
            "`sub` is set by toolgate",
            "`bad header` is not a valid",
        ] {
            assert!(all.contains(want), "{want}: {all}");
        }
        let o: MintOptions = serde_json::from_value(json!({
            "issuer": "x", "algorithm": "RS256"
        }))
        .unwrap();
        let mut problems = Vec::new();
        assert!(Minter::new(&o, "http://b", "identity.mint", &mut problems).is_none());
        assert!(
            problems[0].contains("RS256 needs a `key_file`"),
            "{problems:?}"
        );
    }

    fn pem(der: &[u8]) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    /// Mints with a key from a PEM file and verifies with the JWK published for it.
    async fn round_trip(algorithm: &str, key_pem: String) {
        let dir = std::env::temp_dir().join(format!("tg-mint-{algorithm}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.pem");
        std::fs::write(&path, &key_pem).unwrap();
        let o: MintOptions = serde_json::from_value(json!({
            "issuer": "https://tg", "algorithm": algorithm, "key_file": path, "kid": "k1",
            "header": "X-Identity"
        }))
        .unwrap();
        let mut problems = Vec::new();
        let m = Minter::new(&o, "http://backend", "identity.mint", &mut problems)
            .unwrap_or_else(|| panic!("{problems:?}"));
        assert_eq!(m.jwk().common.key_id.as_deref(), Some("k1"));
        assert_eq!(m.key_text.as_deref(), Some(key_pem.as_str()));
        let v = m.header_value(&alice()).await.unwrap();
        let token = v.to_str().unwrap();
        assert!(
            !token.starts_with("Bearer "),
            "another header carries the bare JWT"
        );
        let alg = if algorithm == "RS256" {
            Algorithm::RS256
        } else {
            Algorithm::ES256
        };
        let mut validation = Validation::new(alg);
        validation.set_audience(&["http://backend"]);
        let key = DecodingKey::from_jwk(m.jwk()).unwrap();
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "alice");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn es256_and_rs256_keys_load_from_pem_files() {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let ec = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        round_trip("ES256", pem(ec.as_ref())).await;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        round_trip("RS256", pem(rsa.as_der().unwrap().as_ref())).await;
    }

    #[test]
    fn a_key_file_that_is_not_a_key_is_described_not_quoted() {
        let dir = std::env::temp_dir().join(format!("tg-mint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.pem");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nY2FuYXJ5LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let mut o = options();
        o.key_file = Some(path);
        let mut problems = Vec::new();
        assert!(Minter::new(&o, "http://b", "identity.mint", &mut problems).is_none());
        assert!(
            problems[0].contains("is not a P-256 private key"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("Y2FuYXJ5"), "{problems:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
