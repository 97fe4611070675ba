//! The verified-token cache: a token seen before costs a SHA-256 and a lookup instead of a
//! signature check or an introspection request. Keyed by the token's SHA-256 (the token itself
//! is not kept as a key), bounded in entries (moka), and each entry expires at the token's
//! `exp` (or earlier, for introspection answers), never later.

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

impl Expiry<[u8; 32], Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &[u8; 32], entry: &Entry, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(entry.until.saturating_sub(now_unix())))
    }
}

/// Principals by token digest.
pub(crate) struct TokenCache {
    entries: Option<moka::sync::Cache<[u8; 32], Entry>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (0: no cache).
    pub fn new(capacity: u64) -> Self {
        let entries = (capacity > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build()
        });
        TokenCache { entries }
    }

    /// The principal of a token verified before and not yet expired.
    pub fn get(&self, digest: &[u8; 32]) -> Option<Arc<Principal>> {
        let entry = self.entries.as_ref()?.get(digest)?;
        // moka's expiry has a coarse clock; the exact check is here.
        (now_unix() < entry.until).then_some(entry.principal)
    }

    /// Remembers `principal` until Unix time `until`.
    pub fn insert(&self, digest: [u8; 32], principal: Arc<Principal>, until: u64) {
        if let Some(entries) = &self.entries
            && until > now_unix()
        {
            entries.insert(digest, Entry { principal, until });
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
        cache.insert([1; 32], p.clone(), now_unix() + 60);
        cache.insert([2; 32], p.clone(), now_unix() - 1);
        assert!(cache.get(&[1; 32]).is_some());
        assert!(cache.get(&[2; 32]).is_none());
        assert!(TokenCache::new(0).get(&[1; 32]).is_none());
    }
}
