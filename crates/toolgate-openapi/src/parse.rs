//! Turning spec bytes into a `serde_json::Value`: JSON when the first non-whitespace byte is `{`,
//! YAML otherwise. Owns syntax error reporting (with line and column); does not look at what the
//! document means, beyond leaving out the parts the compiler never reads when asked to
//! (see [`crate::lean_parse`]).

use serde_json::{Map, Number, Value};

use crate::SpecError;
use crate::lean_parse::{self, Ctx};

/// Parses spec bytes as JSON (if they start with `{`) or YAML.
pub fn parse_document(bytes: &[u8]) -> Result<Value, SpecError> {
    // A literal is kept whole and its `$ref`s are not checked: nothing is left out.
    parse(bytes, Ctx::Literal).map(|(v, _)| v)
}

/// Parses the document a compilation starts from, leaving out what the compiler never reads
/// (see [`crate::lean_parse`]); in full when a `$ref` points into such a part.
pub fn parse_for_compile(bytes: &[u8]) -> Result<Value, SpecError> {
    match parse(bytes, Ctx::Root)? {
        (v, false) => Ok(v),
        (v, true) => {
            drop(v);
            parse_document(bytes)
        }
    }
}

/// The document, and whether a `$ref` points into a left-out part.
fn parse(bytes: &[u8], ctx: Ctx) -> Result<(Value, bool), SpecError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(SpecError::Syntax("the document is empty".to_owned())),
        Some(b'{') => lean_parse::from_json_slice(bytes, ctx)
            .map(|p| (p.value, p.ref_into_skipped))
            .map_err(|e| {
                SpecError::Syntax(format!(
                    "JSON syntax error at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ))
            }),
        Some(_) => {
            let mut yaml: serde_norway::Value =
                serde_norway::from_slice(bytes).map_err(|e| yaml_error(&e))?;
            yaml.apply_merge().map_err(|e| yaml_error(&e))?;
            let mut ref_into_skipped = false;
            let v = yaml_to_json(yaml, ctx, &mut ref_into_skipped);
            Ok((v, ref_into_skipped))
        }
    }
}

fn yaml_error(e: &serde_norway::Error) -> SpecError {
    match e.location() {
        Some(loc) => SpecError::Syntax(format!(
            "YAML syntax error at line {} column {}: {e}",
            loc.line(),
            loc.column()
        )),
        None => SpecError::Syntax(format!("YAML error: {e}")),
    }
}

/// Converts YAML to JSON, leaving out what [`lean_parse::child`] says from `ctx` down. Non-string
/// keys (`200:` response codes, `true:`) become their string form, which is what OpenAPI means
/// by them.
fn yaml_to_json(v: serde_norway::Value, ctx: Ctx, ref_into_skipped: &mut bool) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => yaml_number(&n),
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => {
            let mut out = Vec::with_capacity(seq.len());
            for (i, x) in seq.into_iter().enumerate() {
                let c = if ctx == Ctx::Literal {
                    Some(Ctx::Literal)
                } else {
                    lean_parse::child(ctx, &i.to_string())
                };
                if let Some(c) = c {
                    out.push(yaml_to_json(x, c, ref_into_skipped));
                }
            }
            Value::Array(out)
        }
        Y::Mapping(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                let key = yaml_key(k);
                let Some(c) = lean_parse::child(ctx, &key) else {
                    continue;
                };
                let v = yaml_to_json(v, c, ref_into_skipped);
                if let Value::String(r) = &v
                    && lean_parse::is_reference(ctx, &key)
                    && lean_parse::points_into_skipped(r)
                {
                    *ref_into_skipped = true;
                }
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value, ctx, ref_into_skipped),
    }
}

fn yaml_number(n: &serde_norway::Number) -> Value {
    if let Some(i) = n.as_u64() {
        Value::Number(i.into())
    } else if let Some(i) = n.as_i64() {
        Value::Number(i.into())
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number)
    }
}

fn yaml_key(k: serde_norway::Value) -> String {
    use serde_norway::Value as Y;
    match k {
        Y::String(s) => s,
        Y::Null => "null".to_owned(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::Tagged(t) => yaml_key(t.value),
        other => serde_norway::to_string(&other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_integer_keys_become_strings() {
        let v = parse_document(b"responses:\n  200:\n    description: ok\n").unwrap();
        assert!(v["responses"]["200"].is_object());
    }

    #[test]
    fn json_error_has_line_and_column() {
        let err = parse_document(b"{\n  \"a\": ,\n}").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn yaml_error_has_line_and_column() {
        let err = parse_document(b"a: b\n c: [\n").unwrap_err().to_string();
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn yaml_merge_keys_apply() {
        let v = parse_document(b"base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n").unwrap();
        assert_eq!(v["other"]["x"], 1);
    }
}
