//! The verified-token cache: a token seen before costs one keyed hash and a lookup instead of
//! a signature check or an introspection request. Keyed by the token's SipHash-2-4-128 under
//! a key drawn at random when the cache is made: a pseudo-random function, so the token itself
//! is not kept, and without the key no token can be crafted to collide with a cached one (two
//! real tokens colliding has odds of 2^-128 per pair). Bounded in entries (moka), and each
//! entry expires at the token's `exp` (or earlier, for introspection answers), never later.
//!
//! SipHash rather than SHA-256: the SHA-256 of each request's token was most of
//! authentication's cost per call (13.7k of 21.2k instructions under callgrind for a JWT of
//! ~200 bytes); see BENCHMARKS.md, "Authentication and worker threads".

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use toolgate_core::Principal;

use crate::claims::now_unix;

#[derive(Clone)]
struct Entry {
    principal: Arc<Principal>,
    /// Unix time after which the entry must not be used.
    until: u64,
}

struct UntilExpiry;

impl Expiry<u128, Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &u128, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(entry.until.saturating_sub(now_unix())))
    }
}

/// Principals by token digest.
pub(crate) struct TokenCache {
    /// Under moka's own hash (foldhash) of the digest, which is already uniform.
    entries: Option<moka::sync::Cache<u128, Entry, hashbrown::DefaultHashBuilder>>,
    key: SipHasher24Key,
}

/// The SipHash key of a cache.
struct SipHasher24Key([u8; 16]);

impl SipHasher24Key {
    /// A key from the operating system's random source (never a fixed key: that would let
    /// tokens be crafted to collide).
    fn random() -> Result<Self, getrandom::Error> {
        let mut key = [0; 16];
        getrandom::fill(&mut key)?;
        Ok(SipHasher24Key(key))
    }

    fn digest(&self, token: &[u8]) -> u128 {
        use std::hash::Hasher as _;
        let mut hasher = siphasher::sip128::SipHasher24::new_with_key(&self.0);
        hasher.write(token);
        siphasher::sip128::Hasher128::finish128(&hasher).as_u128()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (0: no cache). Fails only when the operating
    /// system has no random source.
    pub fn new(capacity: u64) -> Result<Self, getrandom::Error> {
        let entries = (capacity > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build_with_hasher(hashbrown::DefaultHashBuilder::default())
        });
        Ok(TokenCache {
            entries,
            // Without a cache the key is never used.
            key: if capacity > 0 {
                SipHasher24Key::random()?
            } else {
                SipHasher24Key([0; 16])
            },
        })
    }

    /// The principal of `token`, verified before and not yet expired.
    pub fn get(&self, token: &[u8]) -> Option<Arc<Principal>> {
        let entry = self.entries.as_ref()?.get(&self.key.digest(token))?;
        // moka's expiry has a coarse clock; the exact check is here.
        (now_unix() < entry.until).then_some(entry.principal)
    }

    /// Remembers `principal` as the caller of `token` until Unix time `until`.
    pub fn insert(&self, token: &[u8], principal: Arc<Principal>, until: u64) {
        if let Some(entries) = &self.entries
            && until > now_unix()
        {
            entries.insert(self.key.digest(token), Entry { principal, until });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_core::AuthMethod;

    #[test]
    fn entries_are_not_served_past_their_expiry() {
        let cache = TokenCache::new(10).unwrap();
        let p = Arc::new(Principal::new("a", vec![], AuthMethod::Jwt));
        cache.insert(b"token-a", p.clone(), now_unix() + 60);
        cache.insert(b"token-b", p.clone(), now_unix() - 1);
        assert!(cache.get(b"token-a").is_some());
        assert!(cache.get(b"token-b").is_none());
        // Only the exact token: not a prefix, not an extension.
        assert!(cache.get(b"token-").is_none());
        assert!(cache.get(b"token-aa").is_none());
        assert!(TokenCache::new(0).unwrap().get(b"token-a").is_none());
    }
}
