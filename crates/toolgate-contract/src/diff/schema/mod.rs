//! The schema walk: two JSON Schemas of the same place (a tool's input or output), compared
//! keyword by keyword, recursively, with the variance of that place.
//!
//! Inputs are contravariant: the new schema must accept every value the old one accepted, so
//! anything that narrows the accepted set (a new required property, a removed enum value, a
//! tighter bound, an added format) breaks. Outputs are covariant: the new schema must only
//! produce values the old one allowed, so anything that widens (a new type, `null`, a looser
//! bound, a removed required field) breaks.
//!
//! Local `$ref`s (`#/...`) are followed in each schema's own document; pointers in findings
//! follow the logical structure (`/inputSchema/properties/due`), not the `$defs`. A `$ref`
//! cycle is compared once per path. `anyOf`/`oneOf`/`allOf` are compared conservatively:
//! identical branches match; the rest pair by type, then by order; what stays unpaired is an
//! added or removed branch.
//!
//! `read.rs` reads schemas (refs, nullability, types); `values.rs` compares the keywords of
//! one value (enums, bounds, formats, patterns); `structure.rs` the keywords that nest
//! (properties, items, composition).

mod read;
mod structure;
mod values;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::{ComponentKind, Sink};
use read::{ANNOTATIONS, accepts, has_ref, resolve, split_null, type_list, types};

/// Which side of a call a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// What the caller sends (`inputSchema`): contravariant.
    Input,
    /// What the tool answers (`outputSchema`): covariant.
    Output,
}

/// Deeper than this, a walk stops (schemas that deep are generated, and the cycle guard
/// already stops recursion through `$ref`).
const MAX_DEPTH: usize = 64;

/// Compares two root schemas (each its own `$ref` document).
pub(super) fn compare_roots(
    old: &Value,
    new: &Value,
    base: &str,
    dir: Direction,
    kind: ComponentKind,
    component: &str,
    out: &mut Sink,
) {
    let defs = |v: &Value| (v.get("$defs").cloned(), v.get("definitions").cloned());
    let mut walker = Walker {
        old_root: old,
        new_root: new,
        defs_equal: defs(old) == defs(new),
        kind,
        component,
        out,
        active: HashSet::new(),
        depth: 0,
    };
    walker.compare(old, new, base, "", dir);
}

pub(super) struct Walker<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    /// Both documents have the same `$defs`: equal subtrees are then equal through their refs.
    defs_equal: bool,
    kind: ComponentKind,
    component: &'a str,
    out: &'a mut Sink,
    /// `$ref` pairs being compared on the current path (the cycle guard).
    active: HashSet<(Option<String>, Option<String>, Direction)>,
    depth: usize,
}

impl Walker<'_> {
    pub(super) fn push(&mut self, rule: &str, pointer: String, reason: String) {
        self.out
            .push(self.kind, self.component, rule, pointer, reason);
    }

    /// How a reason names the value at `label`.
    pub(super) fn what(label: &str, dir: Direction) -> String {
        match (label.is_empty(), dir) {
            (true, Direction::Input) => "the arguments".to_owned(),
            (true, Direction::Output) => "the result".to_owned(),
            (false, Direction::Input) => format!("argument `{label}`"),
            (false, Direction::Output) => format!("output field `{label}`"),
        }
    }

    pub(super) fn compare(
        &mut self,
        old: &Value,
        new: &Value,
        ptr: &str,
        label: &str,
        dir: Direction,
    ) {
        if self.depth >= MAX_DEPTH {
            return;
        }
        let (old_r, old_ref) = resolve(self.old_root, old);
        let (new_r, new_ref) = resolve(self.new_root, new);
        if old_r == new_r && (self.defs_equal || !has_ref(&old_r)) {
            return;
        }
        let key = (old_ref, new_ref, dir);
        let guarded = key.0.is_some() || key.1.is_some();
        if guarded && !self.active.insert(key.clone()) {
            return;
        }
        self.depth += 1;
        self.compare_resolved(&old_r, &new_r, ptr, label, dir);
        self.depth -= 1;
        if guarded {
            self.active.remove(&key);
        }
    }

    fn compare_resolved(
        &mut self,
        old: &Value,
        new: &Value,
        ptr: &str,
        label: &str,
        dir: Direction,
    ) {
        let what = Self::what(label, dir);
        let (old_s, old_null) = split_null(old);
        let (new_s, new_null) = split_null(new);
        match (dir, old_null, new_null) {
            (Direction::Input, true, false) => self.push(
                "nullable-removed",
                ptr.to_owned(),
                format!("{what} no longer accepts null: calls that send null are refused"),
            ),
            (Direction::Input, false, true) => self.push(
                "nullable-added",
                ptr.to_owned(),
                format!("{what} now accepts null"),
            ),
            (Direction::Output, false, true) => self.push(
                "output-nullable-added",
                ptr.to_owned(),
                format!("{what} may now be null: consumers that read it as a value fail"),
            ),
            (Direction::Output, true, false) => self.push(
                "output-nullable-removed",
                ptr.to_owned(),
                format!("{what} is never null now"),
            ),
            _ => {}
        }
        // `anyOf: [T, null]` split to `T` may be a `$ref` itself.
        let (old_s, _) = match &old_s {
            Cow::Owned(v) => {
                let (r, f) = resolve(self.old_root, v);
                (Cow::Owned(r.into_owned()), f)
            }
            Cow::Borrowed(v) => (Cow::Borrowed(*v), None),
        };
        let (new_s, _) = match &new_s {
            Cow::Owned(v) => {
                let (r, f) = resolve(self.new_root, v);
                (Cow::Owned(r.into_owned()), f)
            }
            Cow::Borrowed(v) => (Cow::Borrowed(*v), None),
        };
        let (old, new) = (old_s.as_ref(), new_s.as_ref());
        if let (Some(o), Some(n)) = (
            old.get("$ref").and_then(Value::as_str),
            new.get("$ref").and_then(Value::as_str),
        ) && o != n
        {
            self.push(
                "ref-changed",
                format!("{ptr}/$ref"),
                format!(
                    "{what} refers to `{n}` instead of `{o}` (not followed: not a local reference)"
                ),
            );
        }
        // One side is only alternatives, the other a single schema: compare the single one
        // as a one-branch list, so a lost or new alternative is seen as such.
        for kw in ["anyOf", "oneOf"] {
            let only = |s: &Value| {
                s.get(kw).is_some_and(Value::is_array)
                    && s.as_object().is_some_and(|m| {
                        m.keys()
                            .all(|k| k == kw || ANNOTATIONS.contains(&k.as_str()))
                    })
            };
            let composed = |s: &Value| s.get("anyOf").is_some() || s.get("oneOf").is_some();
            let wrap = |s: &Value| serde_json::json!({ kw: [s] });
            let stem = if kw == "anyOf" { "any-of" } else { "one-of" };
            if only(old) && !composed(new) {
                self.branches(old, &wrap(new), kw, stem, ptr, label, dir);
                return;
            }
            if only(new) && !composed(old) {
                self.branches(&wrap(old), new, kw, stem, ptr, label, dir);
                return;
            }
        }
        if !self.types(old, new, ptr, &what, dir) {
            // Disjoint types: every other keyword would only repeat that.
            return;
        }
        self.enums(old, new, ptr, &what, dir);
        self.bounds(old, new, ptr, &what, dir);
        self.strings(old, new, ptr, &what, dir);
        self.objects(old, new, ptr, label, dir);
        self.arrays(old, new, ptr, label, dir);
        for (kw, stem) in [
            ("anyOf", "any-of"),
            ("oneOf", "one-of"),
            ("allOf", "all-of"),
        ] {
            self.branches(old, new, kw, stem, ptr, label, dir);
        }
        self.docs(old, new, ptr, &what, dir);
    }

    /// Returns false when the type sets do not overlap.
    fn types(&mut self, old: &Value, new: &Value, ptr: &str, what: &str, dir: Direction) -> bool {
        let o = types(self.old_root, old, 0);
        let n = types(self.new_root, new, 0);
        let at = format!("{ptr}/type");
        match (dir, &o, &n) {
            (_, None, None) => true,
            (Direction::Input, Some(o), Some(n)) => {
                let lost: BTreeSet<String> = o.iter().filter(|t| !accepts(n, t)).cloned().collect();
                let gained: BTreeSet<String> =
                    n.iter().filter(|t| !accepts(o, t)).cloned().collect();
                if !lost.is_empty() {
                    self.push(
                        "argument-type-narrowed",
                        at,
                        format!(
                            "{what} accepted {}, now only {}: calls sending {} are refused",
                            type_list(o),
                            type_list(n),
                            type_list(&lost)
                        ),
                    );
                } else if !gained.is_empty() {
                    self.push(
                        "argument-type-widened",
                        at,
                        format!("{what} now also accepts {}", type_list(&gained)),
                    );
                }
                o.iter().any(|t| accepts(n, t)) || n.iter().any(|t| accepts(o, t))
            }
            (Direction::Input, None, Some(n)) => {
                self.push(
                    "argument-type-narrowed",
                    at,
                    format!("{what} accepted any type, now only {}", type_list(n)),
                );
                true
            }
            (Direction::Input, Some(o), None) => {
                self.push(
                    "argument-type-widened",
                    at,
                    format!("{what} accepted only {}, now any type", type_list(o)),
                );
                true
            }
            (Direction::Output, Some(o), Some(n)) => {
                let extra: BTreeSet<String> =
                    n.iter().filter(|t| !accepts(o, t)).cloned().collect();
                let lost = o.iter().any(|t| !accepts(n, t));
                if !extra.is_empty() {
                    self.push(
                        "output-type-changed",
                        at,
                        format!(
                            "{what} was {}, now may be {}: consumers parsing the old type fail",
                            type_list(o),
                            type_list(n)
                        ),
                    );
                } else if lost {
                    self.push(
                        "output-type-narrowed",
                        at,
                        format!("{what} was {}, now only {}", type_list(o), type_list(n)),
                    );
                }
                o.iter().any(|t| accepts(n, t)) || n.iter().any(|t| accepts(o, t))
            }
            (Direction::Output, None, Some(n)) => {
                self.push(
                    "output-type-narrowed",
                    at,
                    format!("{what} is now always {}", type_list(n)),
                );
                true
            }
            (Direction::Output, Some(o), None) => {
                self.push(
                    "output-type-changed",
                    at,
                    format!("{what} was {}, now may be of any type", type_list(o)),
                );
                true
            }
        }
    }

    fn docs(&mut self, old: &Value, new: &Value, ptr: &str, what: &str, dir: Direction) {
        if old.get("description") != new.get("description") {
            self.push(
                "description-changed",
                format!("{ptr}/description"),
                format!("the description of {what} changed"),
            );
        }
        if old.get("title") != new.get("title") {
            self.push(
                "title-changed",
                format!("{ptr}/title"),
                format!("the title of {what} changed"),
            );
        }
        let deprecated = |s: &Value| s.get("deprecated") == Some(&Value::Bool(true));
        if !deprecated(old) && deprecated(new) {
            let rule = match dir {
                Direction::Input => "argument-deprecated",
                Direction::Output => "output-field-deprecated",
            };
            self.push(
                rule,
                format!("{ptr}/deprecated"),
                format!("{what} is now deprecated"),
            );
        }
        if dir == Direction::Input {
            let at = format!("{ptr}/default");
            match (old.get("default"), new.get("default")) {
                (Some(a), Some(b)) if a != b => self.push(
                    "default-changed",
                    at,
                    format!("the default of {what} changed from {a} to {b}: calls that omit it behave differently"),
                ),
                (None, Some(b)) => self.push(
                    "default-added",
                    at,
                    format!("{what} now documents the default {b}"),
                ),
                (Some(a), None) => self.push(
                    "default-removed",
                    at,
                    format!("{what} no longer documents the default {a}"),
                ),
                _ => {}
            }
        }
    }
}
