//! What the recorder keeps per tool: the redaction pointers that apply to it (its globs
//! matched once) and the last few serialized shapes of its results.
//!
//! A tool answers with the same shape call after call, so the line's `shape` is serialized
//! once per tool and shape and then copied: a result whose shape [`Shape::describes`]
//! confirms equal to a cached one reuses that one's bytes; any other result has its shape
//! taken, redacted and serialized, and becomes the newest cached shape. The check is exact
//! (never a hash): a cached shape is reused only for a result that has exactly that shape.
//!
//! Does not own: writing the rest of the line (`line`, `layer`).

use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use serde_json::Value;
use toolgate_contract::shape::{self, Shape};

/// Tools remembered at most; past that a tool's state is built per call (the map holds only
/// tools that answered with a shape, so a client calling made-up names cannot grow it).
const MAX_TOOLS: usize = 4096;

/// Shapes kept per tool (a tool whose answers alternate between a few shapes).
const SHAPES_PER_TOOL: usize = 4;

/// One redaction rule, compiled.
pub(super) struct Rule {
    pub(super) tools: globset::GlobMatcher,
    pub(super) arguments: Vec<Vec<String>>,
    pub(super) result: Vec<Vec<String>>,
}

/// The compiled redaction rules.
pub(super) struct Redaction {
    pub(super) rules: Vec<Rule>,
}

impl Redaction {
    /// Compiles `recording.redact`, reporting every problem.
    pub(super) fn compile(
        config: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<Redaction, Vec<String>> {
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for (glob, pointers) in config {
            let tools = match globset::Glob::new(glob) {
                Ok(g) => g.compile_matcher(),
                Err(e) => {
                    problems.push(format!("recording.redact.{glob}: not a tool glob: {e}"));
                    continue;
                }
            };
            let mut rule = Rule {
                tools,
                arguments: Vec::new(),
                result: Vec::new(),
            };
            for pointer in pointers {
                let tokens = shape::pointer_tokens(pointer).unwrap_or_default();
                match tokens.split_first() {
                    Some((first, rest)) if first == "arguments" && !rest.is_empty() => {
                        rule.arguments.push(rest.to_vec());
                    }
                    Some((first, rest)) if first == "result" => rule.result.push(rest.to_vec()),
                    _ => problems.push(format!(
                        "recording.redact.{glob}: `{pointer}` must be a JSON pointer under \
                         /arguments (e.g. /arguments/password) or /result (e.g. /result/token)"
                    )),
                }
            }
            rules.push(rule);
        }
        if problems.is_empty() {
            Ok(Redaction { rules })
        } else {
            Err(problems)
        }
    }
}

/// A shape and its line text (redacted for the tool).
struct Cached {
    /// The result's shape as taken, before redaction (what results are checked against).
    shape: Shape,
    /// `shape` redacted and serialized.
    json: Box<[u8]>,
}

/// A tool's redaction pointers and cached shapes.
pub(super) struct Tool {
    /// Argument pointers of every rule matching the tool.
    pub(super) arguments: Vec<Vec<String>>,
    /// Result pointers of every rule matching the tool.
    result: Vec<Vec<String>>,
    /// Newest first.
    shapes: ArcSwap<Vec<Arc<Cached>>>,
}

impl Tool {
    /// Appends the line text of `value`'s shape (redacted) to `out`.
    pub(super) fn write_shape(&self, value: &Value, out: &mut Vec<u8>) {
        let shapes = self.shapes.load();
        if let Some(hit) = shapes.iter().find(|c| c.shape.describes(value)) {
            out.extend_from_slice(&hit.json);
            return;
        }
        drop(shapes);
        let taken = Shape::of(value);
        let mut redacted = taken.clone();
        for pointer in &self.result {
            redacted.redact(pointer);
        }
        let json = serde_json::to_vec(&redacted).unwrap_or_else(|_| b"null".to_vec());
        out.extend_from_slice(&json);
        // A shape `describes` cannot confirm would never be reused: not cached.
        if taken.describes(value) {
            let cached = Arc::new(Cached {
                shape: taken,
                json: json.into_boxed_slice(),
            });
            self.shapes.rcu(|old| {
                let mut shapes = Vec::with_capacity(SHAPES_PER_TOOL);
                shapes.push(cached.clone());
                shapes.extend(
                    old.iter()
                        .filter(|c| c.shape != cached.shape)
                        .take(SHAPES_PER_TOOL - 1)
                        .cloned(),
                );
                shapes
            });
        }
    }
}

/// Every tool's state, built on first use.
pub(super) struct Tools {
    redaction: Redaction,
    known: RwLock<hashbrown::HashMap<Box<str>, Arc<Tool>>>,
}

impl Tools {
    pub(super) fn new(redaction: Redaction) -> Tools {
        Tools {
            redaction,
            known: RwLock::new(hashbrown::HashMap::new()),
        }
    }

    /// The state of `name`: remembered, or built now (see [`Tools::remember`]); the flag says
    /// whether it is remembered already.
    pub(super) fn get(&self, name: &str) -> (Arc<Tool>, bool) {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        if let Some(tool) = known.get(name) {
            return (tool.clone(), true);
        }
        drop(known);
        let mut tool = Tool {
            arguments: Vec::new(),
            result: Vec::new(),
            shapes: ArcSwap::from_pointee(Vec::new()),
        };
        for rule in self
            .redaction
            .rules
            .iter()
            .filter(|r| r.tools.is_match(name))
        {
            tool.arguments.extend(rule.arguments.iter().cloned());
            tool.result.extend(rule.result.iter().cloned());
        }
        (Arc::new(tool), false)
    }

    /// How many tools are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.known.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Remembers `tool` as `name`'s state (after it answered with a shape), unless another
    /// call did first or [`MAX_TOOLS`] are remembered.
    pub(super) fn remember(&self, name: &str, tool: Arc<Tool>) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if known.len() < MAX_TOOLS && !known.contains_key(name) {
            known.insert(Box::from(name), tool);
        }
    }
}
