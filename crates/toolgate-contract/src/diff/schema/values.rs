//! The keywords that constrain one value: `enum`/`const`, numeric, length, item and property
//! bounds, `multipleOf`, `uniqueItems`, `format` and `pattern`.

use serde_json::Value;

use super::super::rules::{BOUNDS, tightens};
use super::read::values_list;
use super::{Direction, Walker};

impl Walker<'_> {
    pub(super) fn enums(
        &mut self,
        old: &Value,
        new: &Value,
        ptr: &str,
        what: &str,
        dir: Direction,
    ) {
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

    pub(super) fn bounds(
        &mut self,
        old: &Value,
        new: &Value,
        ptr: &str,
        what: &str,
        dir: Direction,
    ) {
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

    pub(super) fn strings(
        &mut self,
        old: &Value,
        new: &Value,
        ptr: &str,
        what: &str,
        dir: Direction,
    ) {
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
}
