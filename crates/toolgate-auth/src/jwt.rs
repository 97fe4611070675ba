//! Verification of a signed JWT: the algorithm, the key (by `kid`, pinned to its type), the
//! signature (`jsonwebtoken` on aws-lc-rs), then the claims ([`crate::claims`]).

use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};
use toolgate_core::{AuthMethod, Principal, Refusal};

use crate::claims::{ClaimRules, human, now_unix, shown};
use crate::jwks::RemoteKeys;
use crate::jws::RawJwt;
use crate::keys::{HMAC, KeyEntry, KeyKind, KeySet, alg_name};
use crate::metrics::AuthMetrics;

/// Where the asymmetric keys come from.
pub(crate) enum Keys {
    /// None configured (only `hs_secret`).
    None,
    /// From a file or inline, loaded once.
    Static(Arc<KeySet>),
    /// Fetched and cached.
    Remote(Arc<RemoteKeys>),
}

/// Verifies JWTs.
pub(crate) struct JwtVerifier {
    pub keys: Keys,
    /// The shared secret, pinned to the allowed HMAC algorithms.
    pub secret: Option<KeyEntry>,
    /// Algorithms the configuration allows.
    pub allowed: Vec<Algorithm>,
    pub rules: ClaimRules,
    pub metrics: AuthMetrics,
}

impl JwtVerifier {
    /// The shared-secret entry for `secret`.
    pub fn secret_entry(secret: &[u8], allowed: &[Algorithm]) -> KeyEntry {
        KeyEntry {
            kid: None,
            kind: KeyKind::Secret,
            algorithms: HMAC
                .iter()
                .copied()
                .filter(|a| allowed.contains(a))
                .collect(),
            key: DecodingKey::from_secret(secret),
        }
    }

    /// Verifies `raw` (decoded from `token`) and returns its caller and expiry.
    pub async fn verify(&self, token: &str, raw: RawJwt<'_>) -> Result<(Principal, u64), Refusal> {
        if raw.header.crit.is_some() {
            return Err(Refusal::invalid_token(
                "unsupported_alg",
                "the token header lists critical extensions (`crit`), which are not supported",
            ));
        }
        let alg = self.algorithm(&raw.header.alg)?;
        let kid = raw.header.kid.as_deref();
        if HMAC.contains(&alg) {
            self.verify_hmac(alg, kid, &raw).await?;
        } else {
            self.check_allowed(alg)?;
            self.verify_asymmetric(alg, kid, &raw).await?;
        }
        let exp = self
            .rules
            .check(&raw.claims, now_unix(), false)?
            .unwrap_or_default();
        let principal = self.rules.principal(raw.claims, AuthMethod::Jwt, token)?;
        Ok((principal, exp))
    }

    /// The header's `alg`, if it is a signature algorithm at all.
    fn algorithm(&self, name: &str) -> Result<Algorithm, Refusal> {
        if name.eq_ignore_ascii_case("none") {
            return Err(Refusal::invalid_token(
                "alg_none",
                "the token is unsigned (`alg: none`); unsigned tokens are never accepted",
            ));
        }
        let alg = Algorithm::from_str(name).map_err(|_| {
            Refusal::invalid_token(
                "unsupported_alg",
                format!("the token's algorithm `{}` is not supported", shown(name)),
            )
        })?;
        Ok(alg)
    }

    fn check_allowed(&self, alg: Algorithm) -> Result<(), Refusal> {
        if self.allowed.contains(&alg) {
            return Ok(());
        }
        let name = alg_name(alg);
        let why = if HMAC.contains(&alg) && self.secret.is_none() {
            " (HMAC-signed tokens are accepted only with a shared secret, auth.jwt.hs_secret, \
             and none is configured)"
        } else {
            " (see auth.jwt.algorithms)"
        };
        Err(Refusal::invalid_token(
            "alg_not_allowed",
            format!("the algorithm `{name}` is not allowed{why}"),
        ))
    }

    async fn verify_hmac(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        raw: &RawJwt<'_>,
    ) -> Result<(), Refusal> {
        // A kid naming one of the issuer's asymmetric keys means the token claims to be signed
        // by that key with an HMAC: the classic confusion attack. Say so.
        if let (Some(kid), Keys::Static(set)) = (kid, &self.keys)
            && let Some(entry) = set.entries.iter().find(|e| e.kid.as_deref() == Some(kid))
        {
            return Err(alg_mismatch(alg, entry));
        }
        if let (Some(kid), Keys::Remote(remote)) = (kid, &self.keys) {
            let snapshot = remote.keys(None).await;
            if let Some(entry) = snapshot
                .keys
                .entries
                .iter()
                .find(|e| e.kid.as_deref() == Some(kid))
            {
                return Err(alg_mismatch(alg, entry));
            }
        }
        self.check_allowed(alg)?;
        let Some(secret) = &self.secret else {
            return Err(Refusal::invalid_token(
                "alg_not_allowed",
                format!(
                    "the algorithm `{}` is not allowed: no shared secret is configured",
                    alg_name(alg)
                ),
            ));
        };
        self.check_signature(alg, secret, raw)
    }

    async fn verify_asymmetric(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        raw: &RawJwt<'_>,
    ) -> Result<(), Refusal> {
        let (set, remote) = match &self.keys {
            Keys::None => {
                return Err(Refusal::invalid_token(
                    "alg_not_allowed",
                    format!(
                        "the algorithm `{}` needs the issuer's public keys, and none is \
                         configured (auth.jwt.jwks_uri, discovery, jwks_file or jwks)",
                        alg_name(alg)
                    ),
                ));
            }
            Keys::Static(set) => (set.clone(), None),
            Keys::Remote(remote) => {
                let snapshot = remote.keys(kid).await;
                (snapshot.keys.clone(), Some((remote, snapshot)))
            }
        };
        let candidates: Vec<&KeyEntry> = set.candidates(kid, alg).collect();
        if candidates.is_empty() {
            let unavailable = remote
                .as_ref()
                .and_then(|(_, s)| s.last_error.as_deref().filter(|_| set.entries.is_empty()));
            if let Some(error) = unavailable {
                return Err(Refusal::invalid_token(
                    "keys_unavailable",
                    format!(
                        "the issuer's signing keys could not be fetched ({error}); retrying at \
                         most every {}",
                        remote
                            .as_ref()
                            .map_or(String::new(), |(r, _)| human(r.min_interval().as_secs()))
                    ),
                ));
            }
            let source = remote
                .as_ref()
                .map_or("the configured JWKS".to_owned(), |(r, _)| r.source());
            return Err(match kid {
                Some(kid) => Refusal::invalid_token(
                    "unknown_kid",
                    format!(
                        "the signing key `{}` is not in {source}; the token was signed by \
                         another issuer or with a retired key",
                        shown(kid)
                    ),
                ),
                None => Refusal::invalid_token(
                    "unknown_kid",
                    format!(
                        "the token names no key (`kid`) and no key in {source} accepts `{}`",
                        alg_name(alg)
                    ),
                ),
            });
        }
        let mut last = None;
        for entry in candidates.iter().take(4) {
            if !entry.algorithms.contains(&alg) {
                last = Some(alg_mismatch(alg, entry));
                continue;
            }
            match self.check_signature(alg, entry, raw) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Refusal::invalid_token("bad_signature", "the signature does not verify")
        }))
    }

    fn check_signature(
        &self,
        alg: Algorithm,
        entry: &KeyEntry,
        raw: &RawJwt<'_>,
    ) -> Result<(), Refusal> {
        self.metrics.signature_check();
        let verified =
            jsonwebtoken::crypto::verify(raw.signature, raw.message.as_bytes(), &entry.key, alg)
                .unwrap_or(false);
        if verified {
            Ok(())
        } else {
            let which = match &entry.kid {
                Some(kid) => format!("key `{}`", shown(kid)),
                None => entry.kind.describe().to_owned(),
            };
            Err(Refusal::invalid_token(
                "bad_signature",
                format!(
                    "the signature does not verify with {which}; the token was altered or signed by someone else"
                ),
            ))
        }
    }
}

fn alg_mismatch(alg: Algorithm, entry: &KeyEntry) -> Refusal {
    let accepted: Vec<&str> = entry.algorithms.iter().map(|a| alg_name(*a)).collect();
    let kid = entry
        .kid
        .as_deref()
        .map_or(String::new(), |k| format!(" (`{}`)", shown(k)));
    Refusal::invalid_token(
        "alg_mismatch",
        format!(
            "the algorithm `{}` is not allowed for {}{kid}, which accepts {}",
            alg_name(alg),
            entry.kind.describe(),
            accepted.join(", ")
        ),
    )
}
