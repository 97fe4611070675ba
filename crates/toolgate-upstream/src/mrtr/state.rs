//! The `requestState` the gateway gives a 2026-07-28 client with an `input_required` result:
//! what it says (the parked call's handle, or an upstream's own state), whom and what it is
//! bound to (principal, upstream and tool, expiry), integrity-protected with HMAC-SHA256 under
//! a random key made once per process (aws-lc-rs, the crypto stack rustls already builds).
//!
//! The client echoes the state back verbatim, so it is attacker-controlled input: [`Sealer::open`]
//! accepts only a state this process sealed, unaltered. The payload is signed, not encrypted
//! (base64url JSON, readable by the client): it holds nothing the client may not see. Format:
//! `tg1.<payload>.<tag>`, both base64url without padding; the tag covers a domain label and
//! the payload. A state carries the random id of the process that sealed it, so one that
//! comes from another replica or a restarted gateway is told apart from an altered one.
//!
//! Does not own: the parked calls (`super`).

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "tg1.";
/// Mixed into every tag so it cannot be confused with an HMAC made for another purpose.
const DOMAIN: &[u8] = b"toolgate/mrtr/request-state/v1\0";
/// The longest state accepted (an upstream's own state is carried inside).
const MAX_STATE_BYTES: usize = 256 * 1024;

/// What a sealed state says (short field names: it travels in every retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The id of the process that sealed it.
    #[serde(rename = "i", default)]
    pub(crate) instance: String,
    /// The parked upstream call (a 2025-11-25 upstream's server request waits on it).
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub(crate) handle: Option<u64>,
    /// Expiry, Unix time in milliseconds.
    #[serde(rename = "e")]
    pub(crate) expires_ms: u64,
    /// The principal it was issued to (`subject:<sub>` or `anonymous`).
    #[serde(rename = "p")]
    pub(crate) principal: String,
    /// `<upstream>/<tool>` (the server's name of the tool).
    #[serde(rename = "t")]
    pub(crate) tool: String,
    /// The key of the input request the parked call waits on.
    #[serde(rename = "k", default, skip_serializing_if = "String::is_empty")]
    pub(crate) key: String,
    /// A 2026-07-28 upstream's own `requestState`, passed back to it on the retry.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_state: Option<String>,
}

/// Why a state was refused; the text tells the client what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StateError {
    #[error(
        "requestState is not one this gateway issued (malformed); send back the exact value of the input_required result, or call the tool again without it"
    )]
    Malformed,
    #[error(
        "requestState was issued by another toolgate process (another replica, or this gateway before a restart): a call waiting for input lives only in the process that started it and its key is per process; send retries to the same instance, or call the tool again without requestState"
    )]
    OtherProcess,
    #[error(
        "requestState was altered (its integrity check failed); send back the exact value of the input_required result"
    )]
    Tampered,
}

/// Seals and opens states with one key (see the module docs).
pub(crate) struct Sealer {
    key: hmac::Key,
    instance: String,
}

impl Sealer {
    /// A sealer with a fresh random key and process id.
    pub(crate) fn random() -> Result<Sealer, String> {
        let rng = SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| "the system random generator failed".to_owned())?;
        let mut id = [0u8; 8];
        rng.fill(&mut id)
            .map_err(|_| "the system random generator failed".to_owned())?;
        Ok(Sealer {
            key,
            instance: id.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// The sealer of this process (one key for every upstream, made on first use).
    pub(crate) fn process() -> Result<Arc<Sealer>, String> {
        static PROCESS: OnceLock<Result<Arc<Sealer>, String>> = OnceLock::new();
        PROCESS
            .get_or_init(|| Sealer::random().map(Arc::new))
            .clone()
    }

    fn tag(&self, payload: &[u8]) -> hmac::Tag {
        let mut cx = hmac::Context::with_key(&self.key);
        cx.update(DOMAIN);
        cx.update(payload);
        cx.sign()
    }

    /// `claims` as a state (its `instance` set to this process's).
    pub(crate) fn seal(&self, claims: &Claims) -> String {
        let mut claims = claims.clone();
        claims.instance = self.instance.clone();
        // Serializing plain strings and numbers cannot fail.
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let tag = self.tag(&payload);
        format!(
            "{PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The claims of `state` if this process sealed it unaltered. Expiry and bindings are
    /// the caller's to check.
    pub(crate) fn open(&self, state: &str) -> Result<Claims, StateError> {
        if state.len() > MAX_STATE_BYTES {
            return Err(StateError::Malformed);
        }
        let rest = state.strip_prefix(PREFIX).ok_or(StateError::Malformed)?;
        let (payload, tag) = rest.split_once('.').ok_or(StateError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StateError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| StateError::Malformed)?;
        let verified = {
            let mut cx = Vec::with_capacity(DOMAIN.len() + payload.len());
            cx.extend_from_slice(DOMAIN);
            cx.extend_from_slice(&payload);
            hmac::verify(&self.key, &cx, &tag).is_ok()
        };
        let claims: Option<Claims> = serde_json::from_slice(&payload).ok();
        match (verified, claims) {
            (true, Some(claims)) => Ok(claims),
            (true, None) => Err(StateError::Malformed),
            (false, Some(claims)) if claims.instance != self.instance => {
                Err(StateError::OtherProcess)
            }
            (false, _) => Err(StateError::Tampered),
        }
    }
}

/// Now, Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            instance: String::new(),
            handle: Some(7),
            expires_ms: now_ms() + 60_000,
            principal: "subject:alice".into(),
            tool: "everything/sampleLLM".into(),
            key: "sampling".into(),
            upstream_state: None,
        }
    }

    #[test]
    fn a_sealed_state_opens_with_its_claims() {
        let sealer = Sealer::random().unwrap();
        let state = sealer.seal(&claims());
        let opened = sealer.open(&state).unwrap();
        assert_eq!(opened.handle, Some(7));
        assert_eq!(opened.principal, "subject:alice");
        assert_eq!(opened.instance, sealer.instance);
    }

    #[test]
    fn an_altered_state_is_refused_as_tampered() {
        let sealer = Sealer::random().unwrap();
        let state = sealer.seal(&claims());
        // Another handle, same process id, re-encoded: the tag no longer matches.
        let (_, rest) = state.split_once('.').unwrap();
        let (payload, tag) = rest.split_once('.').unwrap();
        let mut c: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        c.handle = Some(8);
        let forged = format!(
            "{PREFIX}{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
        );
        assert_eq!(sealer.open(&forged), Err(StateError::Tampered));
        // A flipped character of the tag: its first, whose six bits are all the tag's (the
        // last character of an unpadded base64 tag also carries padding bits, so changing it
        // may change nothing, or make it undecodable rather than wrong).
        let at = state.rfind('.').unwrap() + 1;
        let mut bytes = state.into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(sealer.open(&flipped), Err(StateError::Tampered));
    }

    #[test]
    fn a_state_of_another_process_says_so() {
        let ours = Sealer::random().unwrap();
        let theirs = Sealer::random().unwrap();
        let state = theirs.seal(&claims());
        assert_eq!(ours.open(&state), Err(StateError::OtherProcess));
        assert!(
            StateError::OtherProcess
                .to_string()
                .contains("same instance")
        );
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let sealer = Sealer::random().unwrap();
        for s in [
            "",
            "tg1.",
            "tg1.a",
            "tg1.!!.!!",
            "xyz",
            "tg1.e30.AAAA",
            &"a".repeat(300_000),
        ] {
            assert!(sealer.open(s).is_err(), "{s}");
        }
    }
}
