//! The serialized `tools` arrays of recent `tools/list` answers, reused by the fast path while
//! the listed tools are unchanged.
//!
//! Serializing a big catalog is most of the cost of a `tools/list` (GitHub's 1,223 tools are
//! a 4 MB array: ~20 ms of CPU and a growing buffer each time, the largest transient memory of
//! a running gateway). The cache keys an entry by the tools themselves: an answer reuses the
//! bytes only when its tools compare equal to the entry's, so it can never serve a stale list
//! (the comparison is cheap: schemas are shared `Arc`s, compared by pointer first).
//!
//! With authorization, each caller lists only what its rules let it see, so there is one
//! list (per page) for each distinct visible set: entries are found by a fingerprint of the
//! tool names (one hash lookup, whatever the number of visible sets), then confirmed by
//! comparing the tools, and the oldest entry goes when [`MAX_ENTRIES`] are kept.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rmcp::model::Tool;

/// Distinct lists kept: pages × visible sets (a deployment has a few roles).
const MAX_ENTRIES: usize = 64;

struct Entry {
    tools: Vec<Tool>,
    json: Bytes,
}

#[derive(Default)]
struct Entries {
    by_fingerprint: std::collections::HashMap<u64, Arc<Entry>>,
    /// Fingerprints, oldest first.
    order: VecDeque<u64>,
}

impl Entries {
    fn len(&self) -> usize {
        self.by_fingerprint.len()
    }
}

/// Recent `tools` arrays and their JSON; cheap to share between transports.
#[derive(Default)]
pub(crate) struct ToolsJson {
    entries: Mutex<Entries>,
    hasher: std::hash::RandomState,
}

impl ToolsJson {
    /// `tools` serialized as a JSON array, from the cache when an equal list was serialized
    /// before.
    pub(crate) fn serialize(&self, tools: Vec<Tool>) -> Result<Bytes, serde_json::Error> {
        let fingerprint = self.fingerprint(&tools);
        let hit = self.lock().by_fingerprint.get(&fingerprint).cloned();
        // Compared outside the lock: a 1,000-tool comparison is ~0.1 ms.
        if let Some(hit) = hit.filter(|e| e.tools == tools) {
            return Ok(hit.json.clone());
        }
        let json = Bytes::from(serde_json::to_vec(&tools)?);
        let mut entries = self.lock();
        let entry = Arc::new(Entry {
            tools,
            json: json.clone(),
        });
        if entries.by_fingerprint.insert(fingerprint, entry).is_none() {
            entries.order.push_back(fingerprint);
        }
        while entries.len() > MAX_ENTRIES {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_fingerprint.remove(&oldest);
            }
        }
        Ok(json)
    }

    /// A hash of the listed names (what tells visible sets and pages apart).
    fn fingerprint(&self, tools: &[Tool]) -> u64 {
        let mut h = self.hasher.build_hasher();
        tools.len().hash(&mut h);
        for t in tools {
            t.name.hash(&mut h);
        }
        h.finish()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The entries stay consistent even if a holder panicked (each push is one step).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::JsonObject;

    fn tool(name: &str, description: &str) -> Tool {
        Tool::new(
            name.to_owned(),
            description.to_owned(),
            Arc::new(JsonObject::new()),
        )
    }

    #[test]
    fn equal_lists_reuse_the_bytes_and_changed_lists_do_not() {
        let cache = ToolsJson::default();
        let first = cache.serialize(vec![tool("a", "one")]).unwrap();
        let again = cache.serialize(vec![tool("a", "one")]).unwrap();
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "an equal list reuses the bytes"
        );
        let changed = cache.serialize(vec![tool("a", "two")]).unwrap();
        assert_ne!(first, changed);
        assert_eq!(
            changed,
            Bytes::from(serde_json::to_vec(&vec![tool("a", "two")]).unwrap())
        );
    }

    #[test]
    fn keeps_a_bounded_number_of_lists() {
        let cache = ToolsJson::default();
        for i in 0..(MAX_ENTRIES + 10) {
            cache.serialize(vec![tool(&format!("t{i}"), "")]).unwrap();
        }
        assert_eq!(cache.lock().len(), MAX_ENTRIES);
        assert_eq!(cache.lock().order.len(), MAX_ENTRIES);
    }

    #[test]
    fn each_visible_set_keeps_its_own_bytes() {
        let cache = ToolsJson::default();
        let all = vec![tool("a", ""), tool("b", ""), tool("c", "")];
        let reader = vec![tool("a", "")];
        let first_all = cache.serialize(all.clone()).unwrap();
        let first_reader = cache.serialize(reader.clone()).unwrap();
        for _ in 0..3 {
            assert_eq!(
                cache.serialize(all.clone()).unwrap().as_ptr(),
                first_all.as_ptr()
            );
            assert_eq!(
                cache.serialize(reader.clone()).unwrap().as_ptr(),
                first_reader.as_ptr()
            );
        }
    }
}
