//! Verification keys and the algorithms each may be used with.
//!
//! Every key is pinned when it is loaded: an RSA key verifies only RS*/PS* (or exactly its JWK
//! `alg`), a P-256 key only ES256, a P-384 key only ES384, an Ed25519 key only EdDSA, and the
//! shared secret only HS*. A token's `alg` must be in its key's list, so `alg: none` (not an
//! algorithm at all) and HS256 signed with an RSA public key (an RSA key never lists HS*) are
//! impossible by construction. Symmetric (`oct`) keys in a JWKS are ignored.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Asymmetric algorithms accepted by default.
pub(crate) const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// HMAC algorithms, accepted only with a configured secret.
pub(crate) const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// The kind of a key, for refusals ("not allowed for an RSA key").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Secret,
}

impl KeyKind {
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::Rsa => "an RSA key",
            KeyKind::EcP256 => "a P-256 key",
            KeyKind::EcP384 => "a P-384 key",
            KeyKind::Ed25519 => "an Ed25519 key",
            KeyKind::Secret => "the shared secret",
        }
    }
}

/// One verification key with the algorithms it may verify.
pub(crate) struct KeyEntry {
    pub kid: Option<String>,
    pub kind: KeyKind,
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

/// A set of keys (one JWKS).
#[derive(Default)]
pub(crate) struct KeySet {
    pub entries: Vec<KeyEntry>,
}

impl KeySet {
    /// Loads the usable keys of a JWKS document; returns the set and a note per skipped key.
    pub fn from_jwks(document: &serde_json::Value, allowed: &[Algorithm]) -> (KeySet, Vec<String>) {
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        let keys = document
            .get("keys")
            .and_then(|k| k.as_array())
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, value) in keys.iter().enumerate() {
            match serde_json::from_value::<Jwk>(value.clone())
                .map_err(|e| format!("not a supported JWK ({e})"))
                .and_then(|jwk| entry_of(&jwk, allowed))
            {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => {}
                Err(why) => skipped.push(format!("keys[{i}]: {why}")),
            }
        }
        (KeySet { entries }, skipped)
    }

    /// Whether a key with this id is present.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.entries.iter().any(|e| e.kid.as_deref() == Some(kid))
    }

    /// Keys a token with `kid` (or without one, and signed with `alg`) may be verified with.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a KeyEntry> + 'a {
        self.entries.iter().filter(move |e| match kid {
            Some(kid) => e.kid.as_deref() == Some(kid),
            None => e.algorithms.contains(&alg),
        })
    }
}

/// The key a JWK describes, or `None` for keys that are not for signatures (`use: enc`).
fn entry_of(jwk: &Jwk, allowed: &[Algorithm]) -> Result<Option<KeyEntry>, String> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Ok(None);
    }
    let (kind, family): (KeyKind, &[Algorithm]) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (KeyKind::Rsa, &ASYMMETRIC[..6]),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => (KeyKind::EcP256, &[Algorithm::ES256]),
            EllipticCurve::P384 => (KeyKind::EcP384, &[Algorithm::ES384]),
            ref other => return Err(format!("curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => (KeyKind::Ed25519, &[Algorithm::EdDSA]),
            ref other => return Err(format!("curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "symmetric (`oct`) keys are not taken from a JWKS; use auth.jwt.hs_secret".into(),
            );
        }
    };
    let mut algorithms: Vec<Algorithm> = family
        .iter()
        .copied()
        .filter(|a| allowed.contains(a))
        .collect();
    if let Some(declared) = jwk.common.key_algorithm {
        match signing_algorithm(declared) {
            Some(alg) if algorithms.contains(&alg) => algorithms = vec![alg],
            _ => {
                return Err(format!(
                    "its `alg` {declared:?} is not allowed for {}",
                    kind.describe()
                ));
            }
        }
    }
    if algorithms.is_empty() {
        return Err(format!(
            "{} but none of its algorithms is in auth.jwt.algorithms",
            kind.describe()
        ));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key material ({e})"))?;
    Ok(Some(KeyEntry {
        kid: jwk.common.key_id.clone(),
        kind,
        algorithms,
        key,
    }))
}

/// The JWS algorithm of a JWK `alg`, if it is one.
fn signing_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The name of an algorithm as written in a JOSE header.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_pinned_to_their_type_and_alg() {
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "RSA", "kid": "r-ps", "alg": "PS256", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "RSA", "kid": "r-hs", "alg": "HS256", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        ]});
        let all: Vec<Algorithm> = ASYMMETRIC.iter().chain(HMAC.iter()).copied().collect();
        let (set, skipped) = KeySet::from_jwks(&jwks, &all);
        let kids: Vec<_> = set.entries.iter().map(|e| e.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["r", "r-ps"]);
        assert_eq!(set.entries[0].algorithms, &ASYMMETRIC[..6]);
        assert!(!set.entries[0].algorithms.iter().any(|a| HMAC.contains(a)));
        assert_eq!(set.entries[1].algorithms, [Algorithm::PS256]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped[0].contains("HS256"), "{skipped:?}");
        assert!(skipped[1].contains("hs_secret"), "{skipped:?}");
    }
}
