//! Sealed session ids: the session's [`Record`] encrypted and authenticated into its id, so
//! any replica holding the secret can serve the session with nothing shared.
//!
//! An id is `s1` followed by base64url (no padding) of a random 96-bit nonce and the
//! ChaCha20-Poly1305 ciphertext of the record's JSON with its tag; the key is derived from
//! the configured secret with HKDF-SHA256 (aws-lc-rs, the crypto the workspace already
//! builds for rustls). The previous secret, when configured, opens ids too (rotation).
//!
//! What sealing cannot do, by construction: end a session for the fleet. A `DELETE` revokes
//! the id on the replica that receives it (kept until the id would have expired), and an id
//! opens anywhere else until `max_age_seconds` after it was issued. docs/fleet.md has the
//! trade-off against Redis.
//!
//! Does not own: the session table ([`super::Sessions`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::config::SealedSessionsConfig;
use super::shared::{Lookup, Record, unix_now};

/// The prefix of a sealed id (the format's version).
const PREFIX: &str = "s1";

/// Bound to every sealed id: an id sealed for anything else does not open.
const AAD: &[u8] = b"toolgate legacy session v1";

/// Revoked ids kept at most (each until it would have expired); past it, the oldest half is
/// forgotten early.
const MAX_REVOKED: usize = 100_000;

/// Ids issued this far in the future (another replica's clock) still open.
const CLOCK_SKEW_SECONDS: u64 = 300;

/// Seals and opens session ids.
pub(crate) struct Sealer {
    /// The current key first (seals and opens), then the previous one (opens).
    keys: Vec<LessSafeKey>,
    rng: SystemRandom,
    max_age_seconds: u64,
    /// Ids deleted here, with the Unix second they expire at.
    revoked: Mutex<HashMap<String, u64>>,
}

/// The AEAD key derived from `secret`.
fn derive(secret: &str) -> LessSafeKey {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"toolgate sealed sessions");
    let prk = salt.extract(secret.as_bytes());
    let okm = prk
        .expand(&[b"chacha20-poly1305 key v1"], &CHACHA20_POLY1305)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    LessSafeKey::new(UnboundKey::from(okm))
}

impl Sealer {
    /// A sealer for `config` (its secrets already checked).
    pub(crate) fn new(config: &SealedSessionsConfig) -> Self {
        let keys = std::iter::once(&config.secret)
            .chain(config.previous_secret.as_ref())
            .map(|s| derive(s.expose()))
            .collect();
        Sealer {
            keys,
            rng: SystemRandom::new(),
            max_age_seconds: config.max_age_seconds,
            revoked: Mutex::default(),
        }
    }

    /// How long an id stays valid after it was issued.
    pub(crate) fn max_age_seconds(&self) -> u64 {
        self.max_age_seconds
    }

    /// The id sealing `record`; `None` if the system's random source failed.
    pub(crate) fn seal(&self, record: &Record) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        if self.rng.fill(&mut nonce).is_err() {
            tracing::error!("the system random source failed: cannot seal a session id");
            return None;
        }
        let mut data = serde_json::to_vec(record).ok()?;
        self.keys[0]
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .ok()?;
        let mut raw = Vec::with_capacity(NONCE_LEN + data.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&data);
        let mut id = String::with_capacity(PREFIX.len() + raw.len().div_ceil(3) * 4);
        id.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(&raw, &mut id);
        Some(id)
    }

    /// The record sealed in `id`, if it opens under one of the keys, has not expired and was
    /// not revoked here.
    pub(crate) fn open(&self, id: &str) -> Lookup {
        let Some(encoded) = id.strip_prefix(PREFIX) else {
            return Lookup::Missing;
        };
        let Ok(raw) = URL_SAFE_NO_PAD.decode(encoded) else {
            return Lookup::Missing;
        };
        if raw.len() <= NONCE_LEN {
            return Lookup::Missing;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        let plain = self.keys.iter().find_map(|key| {
            let mut buf = sealed.to_vec();
            key.open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .ok()
            .map(|plain| plain.to_vec())
        });
        let Some(record) = plain.and_then(|p| serde_json::from_slice::<Record>(&p).ok()) else {
            return Lookup::Missing;
        };
        let now = unix_now();
        if record.issued.saturating_add(self.max_age_seconds) <= now
            || record.issued > now + CLOCK_SKEW_SECONDS
            || self.is_revoked(id)
        {
            return Lookup::Missing;
        }
        Lookup::Found(Box::new(record))
    }

    fn is_revoked(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Refuses `id` on this replica from now on (until it would have expired anyway).
    pub(crate) fn revoke(&self, id: &str) {
        let until = match self.open(id) {
            Lookup::Found(record) => record.issued.saturating_add(self.max_age_seconds),
            Lookup::Missing | Lookup::Unavailable => return,
        };
        let mut revoked = self.lock();
        if revoked.len() >= MAX_REVOKED {
            let mut expiries: Vec<u64> = revoked.values().copied().collect();
            let (_, &mut median, _) = expiries.select_nth_unstable(MAX_REVOKED / 2);
            revoked.retain(|_, &mut e| e > median);
        }
        revoked.insert(id.to_owned(), until);
    }

    /// Forgets revocations of ids that have expired.
    pub(crate) fn prune(&self) {
        let now = unix_now();
        self.lock().retain(|_, &mut until| until > now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.revoked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_http::Secret;

    fn config(secret: &str, previous: Option<&str>) -> SealedSessionsConfig {
        SealedSessionsConfig {
            secret: Secret::new(secret),
            previous_secret: previous.map(Secret::new),
            max_age_seconds: 3600,
        }
    }

    fn record(issued: u64) -> Record {
        Record {
            init: serde_json::from_value(serde_json::json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "python-sdk", "version": "1.0"}
            }))
            .unwrap(),
            owner: Some("bearer\0iss\0alice".to_owned()),
            issued,
        }
    }

    fn found(lookup: Lookup) -> Option<Record> {
        match lookup {
            Lookup::Found(r) => Some(*r),
            Lookup::Missing | Lookup::Unavailable => None,
        }
    }

    const A: &str = "a-secret-of-at-least-thirty-two-characters";
    const B: &str = "another-secret-of-at-least-thirty-two-chars";

    #[test]
    fn ids_open_under_the_current_or_previous_secret_only() {
        let old = Sealer::new(&config(A, None));
        let id = old.seal(&record(unix_now())).unwrap();
        assert!(id.starts_with("s1"));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        );
        let opened = found(old.open(&id)).expect("opens");
        assert_eq!(opened.owner.as_deref(), Some("bearer\0iss\0alice"));
        assert_eq!(opened.init.client_info.name, "python-sdk");
        // Two seals of one record differ (random nonce).
        assert_ne!(id, old.seal(&record(opened.issued)).unwrap());

        let rotated = Sealer::new(&config(B, Some(A)));
        assert!(
            found(rotated.open(&id)).is_some(),
            "the previous secret opens"
        );
        let stranger = Sealer::new(&config(B, None));
        assert!(
            found(stranger.open(&id)).is_none(),
            "another secret does not"
        );

        // Tampering, truncation and garbage do not open.
        let mut tampered = id.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for bad in [
            &tampered,
            &id[..id.len() - 4],
            "s1",
            "s1!!",
            "not-a-session",
            "",
        ] {
            assert!(found(old.open(bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn ids_expire_and_revoked_ids_stop_opening_here() {
        let sealer = Sealer::new(&config(A, None));
        let now = unix_now();
        let expired = sealer.seal(&record(now - 3600)).unwrap();
        assert!(found(sealer.open(&expired)).is_none());
        let future = sealer.seal(&record(now + 3600)).unwrap();
        assert!(
            found(sealer.open(&future)).is_none(),
            "issued an hour ahead"
        );
        let id = sealer.seal(&record(now - 10)).unwrap();
        assert!(found(sealer.open(&id)).is_some());
        sealer.revoke(&id);
        assert!(found(sealer.open(&id)).is_none());
        sealer.prune();
        assert!(found(sealer.open(&id)).is_none(), "kept until it expires");
    }
}
