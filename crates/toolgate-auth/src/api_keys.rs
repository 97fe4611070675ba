//! Static API keys: the configuration stores each key's SHA-256, a presented credential is
//! hashed once and compared with every stored digest in constant time (`subtle`), so neither
//! the comparison nor which key matched leaks through timing.

use std::sync::Arc;

use subtle::{ConditionallySelectable, ConstantTimeEq};
use toolgate_core::{AuthMethod, Credential, Principal};

use crate::config::ApiKeyConfig;
use crate::error::AuthConfigError;

/// One key, ready to match.
struct StoredKey {
    digest: [u8; 32],
    subject: String,
    scopes: Vec<String>,
    roles: Vec<String>,
}

/// The configured keys.
#[derive(Default)]
pub(crate) struct ApiKeys {
    keys: Vec<StoredKey>,
}

impl ApiKeys {
    /// Validates the configured keys (`auth.api_keys[i]`), reporting every problem.
    pub fn new(config: &[ApiKeyConfig], problems: &mut Vec<AuthConfigError>) -> ApiKeys {
        let mut keys = Vec::with_capacity(config.len());
        for (i, key) in config.iter().enumerate() {
            let path = format!("auth.api_keys[{i}]");
            if key.id.trim().is_empty() {
                problems.push(AuthConfigError::invalid(
                    format!("{path}.id"),
                    "give the key a name (it appears in logs instead of the key)",
                ));
            }
            if config[..i].iter().any(|k| k.id == key.id) {
                problems.push(AuthConfigError::invalid(
                    format!("{path}.id"),
                    format!("the id `{}` is used twice; ids must be unique", key.id),
                ));
            }
            let Some(digest) = parse_hex32(&key.sha256) else {
                problems.push(AuthConfigError::invalid(
                    format!("{path}.sha256"),
                    "expected the 64 hex digits of the key's SHA-256 (`printf %s \"$KEY\" | \
                     sha256sum`), not the key itself",
                ));
                continue;
            };
            if keys.iter().any(|k: &StoredKey| k.digest == digest) {
                problems.push(AuthConfigError::invalid(
                    format!("{path}.sha256"),
                    "the same key is configured twice",
                ));
            }
            keys.push(StoredKey {
                digest,
                subject: key
                    .subject
                    .clone()
                    .unwrap_or_else(|| format!("api-key:{}", key.id)),
                scopes: key.scopes.clone(),
                roles: key.roles.clone(),
            });
        }
        ApiKeys { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The caller whose key hashes to `digest`. Every stored digest is compared, in constant
    /// time, whatever matches.
    pub fn find(&self, digest: &[u8; 32], presented: &str) -> Option<Principal> {
        let mut index = 0u32;
        let mut any = subtle::Choice::from(0);
        for (i, key) in self.keys.iter().enumerate() {
            let matches = key.digest.ct_eq(digest);
            index.conditional_assign(&(i as u32), matches);
            any |= matches;
        }
        if !bool::from(any) {
            return None;
        }
        let key = &self.keys[index as usize];
        Some(Principal {
            subject: key.subject.clone(),
            scopes: key.scopes.clone(),
            roles: key.roles.clone(),
            method: AuthMethod::ApiKey,
            claims: Arc::default(),
            credential: Some(Credential::new(presented)),
        })
    }
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn config(id: &str, key: &str) -> ApiKeyConfig {
        ApiKeyConfig {
            id: id.into(),
            sha256: hex(&Sha256::digest(key)),
            subject: None,
            scopes: vec!["read".into()],
            roles: vec![],
        }
    }

    #[test]
    fn the_right_key_matches_and_others_do_not() {
        let mut problems = Vec::new();
        let keys = ApiKeys::new(&[config("a", "key-a"), config("b", "key-b")], &mut problems);
        assert!(problems.is_empty());
        let digest: [u8; 32] = Sha256::digest("key-b").into();
        let p = keys.find(&digest, "key-b").unwrap();
        assert_eq!(p.subject, "api-key:b");
        assert_eq!(p.scopes, ["read"]);
        let wrong: [u8; 32] = Sha256::digest("key-c").into();
        assert!(keys.find(&wrong, "key-c").is_none());
    }

    #[test]
    fn bad_hashes_and_duplicates_name_their_path() {
        let mut problems = Vec::new();
        let mut bad = config("a", "k");
        bad.sha256 = "plaintext-key".into();
        ApiKeys::new(&[bad, config("b", "k"), config("b", "k")], &mut problems);
        let paths: Vec<String> = problems
            .iter()
            .flat_map(|p| p.problems())
            .map(|p| p.0)
            .collect();
        assert_eq!(
            paths,
            [
                "auth.api_keys[0].sha256",
                "auth.api_keys[2].id",
                "auth.api_keys[2].sha256"
            ]
        );
    }
}
