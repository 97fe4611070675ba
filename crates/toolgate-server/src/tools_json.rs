//! The serialized `tools` arrays of recent `tools/list` answers, reused by the fast path while
//! the listed tools are unchanged.
//!
//! Serializing a big catalog is most of the cost of a `tools/list` (GitHub's 1,223 tools are
//! a 4 MB array: ~20 ms of CPU and a growing buffer each time, the largest transient memory of
//! a running gateway). The cache keys an entry by the tools themselves: an answer reuses the
//! bytes only when its tools compare equal to the entry's, so it can never serve a stale list
//! (the comparison is cheap: schemas are shared `Arc`s, compared by pointer first).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rmcp::model::Tool;

/// Distinct pages kept (a catalog listed in pages has one entry per page).
const MAX_ENTRIES: usize = 4;

struct Entry {
    tools: Vec<Tool>,
    json: Bytes,
}

/// Recent `tools` arrays and their JSON; cheap to share between transports.
#[derive(Default)]
pub(crate) struct ToolsJson {
    entries: Mutex<Vec<Arc<Entry>>>,
}

impl ToolsJson {
    /// `tools` serialized as a JSON array, from the cache when an equal list was serialized
    /// before.
    pub(crate) fn serialize(&self, tools: Vec<Tool>) -> Result<Bytes, serde_json::Error> {
        // Compared outside the lock: a 1,000-tool comparison is ~0.1 ms.
        let entries: Vec<Arc<Entry>> = self.lock().clone();
        if let Some(hit) = entries.iter().find(|e| e.tools == tools) {
            return Ok(hit.json.clone());
        }
        let json = Bytes::from(serde_json::to_vec(&tools)?);
        let mut entries = self.lock();
        if entries.len() == MAX_ENTRIES {
            entries.remove(0);
        }
        entries.push(Arc::new(Entry {
            tools,
            json: json.clone(),
        }));
        Ok(json)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Entry>>> {
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
        for i in 0..10 {
            cache.serialize(vec![tool(&format!("t{i}"), "")]).unwrap();
        }
        assert_eq!(cache.lock().len(), MAX_ENTRIES);
    }
}
