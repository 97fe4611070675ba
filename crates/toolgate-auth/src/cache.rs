//! The verified-token cache: a token seen before costs one hash of its bytes and a lookup
//! instead of a signature check or an introspection request. Keyed by the token itself
//! (compared in full: a different token can never find another's entry) under a fast hash
//! seeded at random per process (foldhash, as the other per-call maps); bounded in entries
//! (moka), and each entry expires at the token's `exp` (or earlier, for introspection
//! answers), never later. The tokens it holds are ones that were verified and have not
//! expired: what a request carries anyway, kept in memory no longer than they are valid.
//!
//! Keyed by the token rather than its SHA-256 since the SHA-256 of each request's token was
//! most of authentication's cost per call (13.7k of 21.2k instructions under callgrind for a
//! JWT of ~200 bytes); see BENCHMARKS.md, "Authentication and worker threads".

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

impl Expiry<Box<[u8]>, Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &Box<[u8]>, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(entry.until.saturating_sub(now_unix())))
    }
}

/// Principals by token.
pub(crate) struct TokenCache {
    entries: Option<moka::sync::Cache<Box<[u8]>, Entry, hashbrown::DefaultHashBuilder>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (0: no cache).
    pub fn new(capacity: u64) -> Self {
        let entries = (capacity > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build_with_hasher(hashbrown::DefaultHashBuilder::default())
        });
        TokenCache { entries }
    }

    /// The principal of `token`, verified before and not yet expired.
    pub fn get(&self, token: &[u8]) -> Option<Arc<Principal>> {
        let entry = self.entries.as_ref()?.get(token)?;
        // moka's expiry has a coarse clock; the exact check is here.
        (now_unix() < entry.until).then_some(entry.principal)
    }

    /// Remembers `principal` as the caller of `token` until Unix time `until`.
    pub fn insert(&self, token: &[u8], principal: Arc<Principal>, until: u64) {
        if let Some(entries) = &self.entries
            && until > now_unix()
        {
            entries.insert(token.into(), Entry { principal, until });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_core::AuthMethod;

    #[test]
    fn entries_are_not_served_past_their_expiry() {
        let cache = TokenCache::new(10);
        let p = Arc::new(Principal::new("a", vec![], AuthMethod::Jwt));
        cache.insert(b"token-a", p.clone(), now_unix() + 60);
        cache.insert(b"token-b", p.clone(), now_unix() - 1);
        assert!(cache.get(b"token-a").is_some());
        assert!(cache.get(b"token-b").is_none());
        // Only the exact token: not a prefix, not an extension.
        assert!(cache.get(b"token-").is_none());
        assert!(cache.get(b"token-aa").is_none());
        assert!(TokenCache::new(0).get(b"token-a").is_none());
    }
}
