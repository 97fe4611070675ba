//! The keywords that nest schemas: `properties` and `required`, `additionalProperties`,
//! `items` and `prefixItems`, and `allOf`/`anyOf`/`oneOf`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::read::{Extra, escape, extra, has_ref, resolve, types};
use super::{Direction, Walker};

impl Walker<'_> {
    pub(super) fn objects(
        &mut self,
        old: &Value,
        new: &Value,
        ptr: &str,
        label: &str,
        dir: Direction,
    ) {
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

    pub(super) fn arrays(
        &mut self,
        old: &Value,
        new: &Value,
        ptr: &str,
        label: &str,
        dir: Direction,
    ) {
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
    pub(super) fn branches(
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
}
