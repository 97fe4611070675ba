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

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};

use super::rules::{BOUNDS, tightens};
use super::{ComponentKind, Sink};

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

struct Walker<'a> {
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

/// Follows local `$ref`s of `s` in `root`; sibling keywords of a `$ref` override the target's.
/// Returns the schema and the first `$ref` followed.
fn resolve<'v>(root: &'v Value, s: &'v Value) -> (Cow<'v, Value>, Option<String>) {
    let mut current = s;
    let mut first = None;
    let mut overlay = Map::new();
    for _ in 0..32 {
        let Some(r) = current.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else {
            break;
        };
        if let Some(map) = current.as_object() {
            for (k, v) in map {
                if k != "$ref" && !overlay.contains_key(k) {
                    overlay.insert(k.clone(), v.clone());
                }
            }
        }
        first.get_or_insert_with(|| r.to_owned());
        current = target;
    }
    let current = match current {
        Value::Bool(true) => return (Cow::Owned(Value::Object(Map::new())), first),
        other => other,
    };
    if overlay.is_empty() {
        return (Cow::Borrowed(current), first);
    }
    let mut merged = current.as_object().cloned().unwrap_or_default();
    merged.extend(overlay);
    (Cow::Owned(Value::Object(merged)), first)
}

fn has_ref(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
        Value::Array(a) => a.iter().any(has_ref),
        _ => false,
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
        && v.as_object().is_some_and(|m| {
            m.keys()
                .all(|k| matches!(k.as_str(), "type" | "description" | "title"))
        })
}

/// Keywords that only annotate: a one-branch `anyOf` carrying them is that branch.
const ANNOTATIONS: [&str; 5] = ["description", "title", "default", "deprecated", "examples"];

/// Splits nullability off a schema: `type: [T, "null"]`, an `anyOf`/`oneOf` branch
/// `{type: null}`, or `null` in an `enum` (OpenAPI 3.0 `nullable`, as the compiler emits it).
fn split_null(s: &Value) -> (Cow<'_, Value>, bool) {
    let Some(map) = s.as_object() else {
        return (Cow::Borrowed(s), false);
    };
    let null_type = matches!(map.get("type"), Some(Value::Array(t)) if t.len() > 1 && t.iter().any(|t| t == "null"));
    let null_enum = matches!(map.get("enum"), Some(Value::Array(v)) if v.len() > 1 && v.iter().any(Value::is_null));
    let null_branch = |kw: &str| matches!(map.get(kw), Some(Value::Array(b)) if b.len() > 1 && b.iter().any(is_null_schema));
    if !null_type && !null_enum && !null_branch("anyOf") && !null_branch("oneOf") {
        // The common case: nothing to split, nothing copied.
        return (Cow::Borrowed(s), false);
    }
    let mut out = map.clone();
    if let Some(Value::Array(types)) = map.get("type")
        && null_type
    {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        out.insert(
            "type".into(),
            if rest.len() == 1 {
                rest[0].clone()
            } else {
                Value::Array(rest)
            },
        );
    }
    if let Some(Value::Array(values)) = map.get("enum")
        && null_enum
    {
        let rest: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        out.insert("enum".into(), Value::Array(rest));
    }
    for kw in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get(kw)
            && null_branch(kw)
        {
            let rest: Vec<Value> = branches
                .iter()
                .filter(|b| !is_null_schema(b))
                .cloned()
                .collect();
            let only_annotations = map
                .keys()
                .all(|k| k == kw || ANNOTATIONS.contains(&k.as_str()));
            if rest.len() == 1 && only_annotations {
                // `anyOf: [T, null]` is `T`, nullable: compare T itself.
                let mut merged = match &rest[0] {
                    Value::Object(b) => b.clone(),
                    _ => Map::new(),
                };
                for (k, v) in map {
                    if k != kw {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                return (Cow::Owned(Value::Object(merged)), true);
            }
            out.insert(kw.into(), Value::Array(rest));
        }
    }
    (Cow::Owned(Value::Object(out)), true)
}

/// The types a schema allows (`None`: any), through `anyOf`/`oneOf` when it has no `type`.
fn types<'v>(root: &'v Value, s: &'v Value, depth: usize) -> Option<BTreeSet<String>> {
    match s.get("type") {
        Some(Value::String(t)) => return Some(BTreeSet::from([t.clone()])),
        Some(Value::Array(ts)) => {
            return Some(
                ts.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            );
        }
        _ => {}
    }
    if depth > 8 {
        return None;
    }
    for kw in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = s.get(kw) {
            let mut all = BTreeSet::new();
            for b in branches {
                let (b, _) = resolve(root, b);
                all.extend(types(root, &b, depth + 1)?);
            }
            return Some(all);
        }
    }
    None
}

/// Whether a type set accepts values of type `t` (`number` accepts integers).
fn accepts(set: &BTreeSet<String>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

fn type_list(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" or ")
}

fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn values_list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone, Copy, PartialEq)]
enum Extra<'v> {
    Open,
    Closed,
    Schema(&'v Value),
}

fn extra(s: &Value) -> Extra<'_> {
    match s.get("additionalProperties") {
        None | Some(Value::Bool(true)) => Extra::Open,
        Some(Value::Bool(false)) => Extra::Closed,
        Some(v) if v.as_object().is_some_and(Map::is_empty) => Extra::Open,
        Some(v) => Extra::Schema(v),
    }
}

impl Walker<'_> {
    fn push(&mut self, rule: &str, pointer: String, reason: String) {
        self.out
            .push(self.kind, self.component, rule, pointer, reason);
    }

    /// How a reason names the value at `label`.
    fn what(label: &str, dir: Direction) -> String {
        match (label.is_empty(), dir) {
            (true, Direction::Input) => "the arguments".to_owned(),
            (true, Direction::Output) => "the result".to_owned(),
            (false, Direction::Input) => format!("argument `{label}`"),
            (false, Direction::Output) => format!("output field `{label}`"),
        }
    }

    fn compare(&mut self, old: &Value, new: &Value, ptr: &str, label: &str, dir: Direction) {
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

    fn enums(&mut self, old: &Value, new: &Value, ptr: &str, what: &str, dir: Direction) {
        let get = |s: &Value| -> Option<(Vec<Value>, &'static str)> {
            if let Some(Value::Array(values)) = s.get("enum") {
                return Some((values.clone(), "enum"));
            }
            s.get("const").map(|c| (vec![c.clone()], "const"))
        };
        let (o, n) = (get(old), get(new));
        let input = dir == Direction::Input;
        match (o, n) {
            (None, None) => {}
            (Some((o, _)), Some((n, kw))) => {
                let at = format!("{ptr}/{kw}");
                let removed: Vec<&Value> = o.iter().filter(|v| !n.contains(v)).collect();
                let added: Vec<&Value> = n.iter().filter(|v| !o.contains(v)).collect();
                if !removed.is_empty() {
                    let (rule, tail) = if input {
                        ("enum-value-removed", ": calls that send it are refused")
                    } else {
                        ("output-enum-value-removed", "")
                    };
                    self.push(
                        rule,
                        at.clone(),
                        format!(
                            "{what} no longer {} {}{tail}",
                            if input { "accepts" } else { "takes" },
                            values_list(&removed)
                        ),
                    );
                }
                if !added.is_empty() {
                    let (rule, tail) = if input {
                        ("enum-value-added", "")
                    } else {
                        (
                            "output-enum-value-added",
                            ": consumers that handle every value must handle it",
                        )
                    };
                    self.push(
                        rule,
                        at,
                        format!("{what} may now be {}{tail}", values_list(&added)),
                    );
                }
            }
            (None, Some((n, kw))) => {
                let rule = if input {
                    "enum-added"
                } else {
                    "output-enum-added"
                };
                let list: Vec<&Value> = n.iter().collect();
                self.push(
                    rule,
                    format!("{ptr}/{kw}"),
                    format!("{what} is now restricted to {}", values_list(&list)),
                );
            }
            (Some(_), None) => {
                let (rule, tail) = if input {
                    ("enum-constraint-removed", "")
                } else {
                    (
                        "output-enum-constraint-removed",
                        ": consumers that handle every value meet unknown ones",
                    )
                };
                self.push(
                    rule,
                    ptr.to_owned(),
                    format!("{what} is no longer restricted to a list of values{tail}"),
                );
            }
        }
    }

    fn bounds(&mut self, old: &Value, new: &Value, ptr: &str, what: &str, dir: Direction) {
        let input = dir == Direction::Input;
        for (kw, stem, upper) in BOUNDS {
            let num = |s: &Value| s.get(kw).filter(|v| v.is_number()).cloned();
            let (o, n) = (num(old), num(new));
            let change = match (&o, &n) {
                (None, None) => continue,
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(a), Some(b)) => {
                    let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                    if a < b {
                        "increased"
                    } else if a > b {
                        "decreased"
                    } else {
                        continue;
                    }
                }
            };
            let show = |v: &Option<Value>| v.as_ref().map_or("none".to_owned(), Value::to_string);
            let tight = tightens(upper, change);
            let consequence = match (input, tight) {
                (true, true) => ": values the old contract accepted are refused",
                (false, false) => ": values beyond what the old contract promised may be returned",
                _ => "",
            };
            let rule = format!("{}{stem}-{change}", if input { "" } else { "output-" });
            self.push(
                &rule,
                format!("{ptr}/{kw}"),
                format!(
                    "`{kw}` of {what} {change} ({} → {}){consequence}",
                    show(&o),
                    show(&n)
                ),
            );
        }
        if input {
            let (o, n) = (old.get("multipleOf"), new.get("multipleOf"));
            match (o, n) {
                (_, Some(nv)) if o != n => self.push(
                    "multiple-of-changed",
                    format!("{ptr}/multipleOf"),
                    format!("{what} must now be a multiple of {nv}"),
                ),
                (Some(_), None) => self.push(
                    "multiple-of-removed",
                    format!("{ptr}/multipleOf"),
                    format!("{what} no longer has to be a multiple"),
                ),
                _ => {}
            }
            let unique = |s: &Value| s.get("uniqueItems") == Some(&Value::Bool(true));
            match (unique(old), unique(new)) {
                (false, true) => self.push(
                    "unique-items-added",
                    format!("{ptr}/uniqueItems"),
                    format!("{what} must now hold unique items: calls with repeats are refused"),
                ),
                (true, false) => self.push(
                    "unique-items-removed",
                    format!("{ptr}/uniqueItems"),
                    format!("{what} may now repeat items"),
                ),
                _ => {}
            }
        }
    }

    fn strings(&mut self, old: &Value, new: &Value, ptr: &str, what: &str, dir: Direction) {
        let input = dir == Direction::Input;
        let (of, nf) = (
            old.get("format").and_then(Value::as_str),
            new.get("format").and_then(Value::as_str),
        );
        let at = format!("{ptr}/format");
        // OpenAPI's storage hints on numbers: no JSON value changes, nothing asserts them.
        let storage =
            |f: Option<&str>| f.is_none_or(|f| matches!(f, "int32" | "int64" | "float" | "double"));
        if of != nf && storage(of) && storage(nf) {
            self.push(
                "number-format-changed",
                at.clone(),
                format!(
                    "the storage format of {what} changed ({} → {})",
                    of.unwrap_or("none"),
                    nf.unwrap_or("none")
                ),
            );
        }
        match (of, nf, input) {
            _ if storage(of) && storage(nf) => {}
            (None, Some(f), true) => self.push(
                "format-added",
                at,
                format!("{what} must now be a valid `{f}`: toolgate refuses other values for asserted formats, and the backend may"),
            ),
            (Some(a), Some(b), true) if a != b => self.push(
                "format-changed",
                at,
                format!("{what} must now be a `{b}` instead of a `{a}`"),
            ),
            (Some(f), None, true) => self.push(
                "format-removed",
                at,
                format!("{what} no longer has to be a `{f}`"),
            ),
            (None, Some(f), false) => self.push(
                "output-format-added",
                at,
                format!("{what} is now promised to be a `{f}`"),
            ),
            (Some(a), Some(b), false) if a != b => self.push(
                "output-format-changed",
                at,
                format!("{what} is now a `{b}` instead of a `{a}`: consumers parsing a `{a}` fail"),
            ),
            (Some(f), None, false) => self.push(
                "output-format-removed",
                at,
                format!("{what} is no longer promised to be a `{f}`"),
            ),
            _ => {}
        }
        let (op, np) = (
            old.get("pattern").and_then(Value::as_str),
            new.get("pattern").and_then(Value::as_str),
        );
        if op == np {
            return;
        }
        let at = format!("{ptr}/pattern");
        if !input {
            self.push(
                "output-pattern-changed",
                at,
                format!(
                    "the pattern of {what} changed ({} → {})",
                    op.unwrap_or("none"),
                    np.unwrap_or("none")
                ),
            );
            return;
        }
        match (op, np) {
            (None, Some(p)) => self.push(
                "pattern-added",
                at,
                format!("{what} must now match `{p}`: other values are refused"),
            ),
            (Some(a), Some(b)) => self.push(
                "pattern-changed",
                at,
                format!("{what} must now match `{b}` instead of `{a}`"),
            ),
            (Some(a), None) => self.push(
                "pattern-removed",
                at,
                format!("{what} no longer has to match `{a}`"),
            ),
            (None, None) => {}
        }
    }

    fn objects(&mut self, old: &Value, new: &Value, ptr: &str, label: &str, dir: Direction) {
        let props = |s: &Value| -> Map<String, Value> {
            s.get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let required = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (op, np) = (props(old), props(new));
        let (or, nr) = (required(old), required(new));
        let input = dir == Direction::Input;
        let child = |name: &str| {
            if label.is_empty() {
                name.to_owned()
            } else {
                format!("{label}.{name}")
            }
        };
        let closed = extra(new) == Extra::Closed;
        // Removed.
        for name in op.keys() {
            if np.contains_key(name) {
                continue;
            }
            let at = format!("{ptr}/properties/{}", escape(name));
            if input {
                let effect = if closed {
                    "calls that send it are refused"
                } else {
                    "calls that send it have it ignored"
                };
                self.push(
                    "argument-removed",
                    at,
                    format!(
                        "{} is no longer accepted: {effect}",
                        Self::what(&child(name), dir)
                    ),
                );
            } else {
                let was = if or.contains(name) {
                    "required"
                } else {
                    "optional"
                };
                self.push(
                    "output-field-removed",
                    at,
                    format!(
                        "{} ({was}) is gone: consumers reading it fail",
                        Self::what(&child(name), dir)
                    ),
                );
            }
        }
        // Added, and requiredness.
        let mut names: BTreeSet<&String> = np.keys().collect();
        names.extend(nr.iter());
        for name in names {
            let in_old = op.contains_key(name) || or.contains(name);
            let what = Self::what(&child(name), dir);
            let at_prop = format!("{ptr}/properties/{}", escape(name));
            let at = if np.contains_key(name) {
                at_prop.clone()
            } else {
                format!("{ptr}/required")
            };
            let (was_req, is_req) = (or.contains(name), nr.contains(name));
            match (in_old, input) {
                (false, true) if is_req => self.push(
                    "required-argument-added",
                    at,
                    format!("new required {what}: calls without it are refused"),
                ),
                (false, true) => self.push(
                    "optional-argument-added",
                    at,
                    format!("new optional {what}"),
                ),
                (false, false) => self.push(
                    "output-field-added",
                    at,
                    format!("new {what}"),
                ),
                (true, true) if is_req && !was_req => self.push(
                    "argument-became-required",
                    at_prop.clone(),
                    format!("{what} is now required: calls without it are refused"),
                ),
                (true, true) if was_req && !is_req => self.push(
                    "argument-became-optional",
                    at_prop.clone(),
                    format!("{what} is now optional"),
                ),
                (true, false) if was_req && !is_req => self.push(
                    "output-field-became-optional",
                    at_prop.clone(),
                    format!("{what} was always present and now may be missing: consumers reading it fail"),
                ),
                (true, false) if is_req && !was_req => self.push(
                    "output-field-became-required",
                    at_prop.clone(),
                    format!("{what} is now always present"),
                ),
                _ => {}
            }
            if let (Some(o), Some(n)) = (op.get(name), np.get(name)) {
                self.compare(o, n, &at_prop, &child(name), dir);
            }
        }
        // Properties not listed.
        let at = format!("{ptr}/additionalProperties");
        let what = Self::what(label, dir);
        match (extra(old), extra(new), input) {
            (Extra::Schema(o), Extra::Schema(n), _) => {
                let star = if label.is_empty() { "*".to_owned() } else { format!("{label}.*") };
                self.compare(o, n, &at, &star, dir);
            }
            (a, b, _) if a == b => {}
            (Extra::Open | Extra::Schema(_), Extra::Closed, true) => self.push(
                "additional-properties-disallowed",
                at,
                format!("{what} no longer accepts properties it does not list: calls that send them are refused"),
            ),
            (Extra::Open, Extra::Schema(_), true) => self.push(
                "additional-properties-narrowed",
                at,
                format!("properties {what} does not list must now match a schema"),
            ),
            (_, _, true) => self.push(
                "additional-properties-allowed",
                at,
                format!("{what} now accepts more unlisted properties"),
            ),
            (_, _, false) => self.push(
                "output-additional-properties-changed",
                at,
                format!("the unlisted properties {what} may hold changed"),
            ),
        }
    }

    fn arrays(&mut self, old: &Value, new: &Value, ptr: &str, label: &str, dir: Direction) {
        let any = Value::Object(Map::new());
        let elem = format!("{label}[]");
        match (old.get("items"), new.get("items")) {
            (None, None) => {}
            (Some(Value::Array(o)), Some(Value::Array(n))) => {
                for (i, (o, n)) in o.iter().zip(n).enumerate() {
                    self.compare(o, n, &format!("{ptr}/items/{i}"), &elem, dir);
                }
            }
            (o, n) => {
                let o = o.filter(|v| !v.is_array()).unwrap_or(&any);
                let n = n.filter(|v| !v.is_array()).unwrap_or(&any);
                self.compare(o, n, &format!("{ptr}/items"), &elem, dir);
            }
        }
        if let (Some(Value::Array(o)), Some(Value::Array(n))) =
            (old.get("prefixItems"), new.get("prefixItems"))
        {
            for (i, (o, n)) in o.iter().zip(n).enumerate() {
                self.compare(
                    o,
                    n,
                    &format!("{ptr}/prefixItems/{i}"),
                    &format!("{label}[{i}]"),
                    dir,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn branches(
        &mut self,
        old: &Value,
        new: &Value,
        kw: &str,
        stem: &str,
        ptr: &str,
        label: &str,
        dir: Direction,
    ) {
        let (Some(Value::Array(o)), Some(Value::Array(n))) = (old.get(kw), new.get(kw)) else {
            // Introduced or dropped as a whole: the type comparison (through the branches)
            // has judged it.
            return;
        };
        let mut old_left: Vec<usize> = Vec::new();
        let mut new_left: Vec<usize> = (0..n.len()).collect();
        for (i, ob) in o.iter().enumerate() {
            match new_left.iter().position(|&j| n[j] == *ob) {
                Some(p) if self.defs_equal || !has_ref(ob) => {
                    new_left.remove(p);
                }
                _ => old_left.push(i),
            }
        }
        // Pair what is left: same type set first, then in order when the counts agree.
        let mut pairs = Vec::new();
        old_left.retain(|&i| {
            let (ob, _) = resolve(self.old_root, &o[i]);
            let ot = types(self.old_root, &ob, 0);
            let found = new_left.iter().position(|&j| {
                let (nb, _) = resolve(self.new_root, &n[j]);
                types(self.new_root, &nb, 0) == ot
            });
            match found {
                Some(p) => {
                    pairs.push((i, new_left.remove(p)));
                    false
                }
                None => true,
            }
        });
        if old_left.len() == new_left.len() {
            pairs.extend(old_left.drain(..).zip(new_left.drain(..)));
        }
        for (i, j) in pairs {
            self.compare(&o[i], &n[j], &format!("{ptr}/{kw}/{j}"), label, dir);
        }
        let what = Self::what(label, dir);
        let input = dir == Direction::Input;
        let all_of = kw == "allOf";
        let prefix = if input { "" } else { "output-" };
        if !old_left.is_empty() {
            let (rule, reason) = match (all_of, input) {
                (true, true) => (
                    format!("{stem}-removed"),
                    format!(
                        "{what} no longer has to match {} `{kw}` schema(s)",
                        old_left.len()
                    ),
                ),
                (true, false) => (
                    format!("output-{stem}-removed"),
                    format!(
                        "{what} no longer promises {} `{kw}` schema(s)",
                        old_left.len()
                    ),
                ),
                (false, true) => (
                    format!("{stem}-branch-removed"),
                    format!(
                        "{what} lost {} `{kw}` alternative(s): calls using them are refused",
                        old_left.len()
                    ),
                ),
                (false, false) => (
                    format!("output-{stem}-branch-removed"),
                    format!("{what} lost {} `{kw}` alternative(s)", old_left.len()),
                ),
            };
            self.push(&rule, format!("{ptr}/{kw}"), reason);
        }
        if !new_left.is_empty() {
            let (rule, reason) = match (all_of, input) {
                (true, true) => (
                    format!("{stem}-added"),
                    format!(
                        "{what} must also match {} new `{kw}` schema(s)",
                        new_left.len()
                    ),
                ),
                (true, false) => (
                    format!("output-{stem}-added"),
                    format!(
                        "{what} also promises {} new `{kw}` schema(s)",
                        new_left.len()
                    ),
                ),
                (false, true) => (
                    format!("{stem}-branch-added"),
                    format!(
                        "{what} accepts {} new `{kw}` alternative(s)",
                        new_left.len()
                    ),
                ),
                (false, false) => (
                    format!("output-{stem}-branch-added"),
                    format!(
                        "{what} may take {} new `{kw}` alternative(s): consumers that handle every shape must handle them",
                        new_left.len()
                    ),
                ),
            };
            let _ = prefix;
            self.push(&rule, format!("{ptr}/{kw}/{}", new_left[0]), reason);
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
