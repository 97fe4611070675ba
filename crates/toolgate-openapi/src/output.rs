//! Output schemas: the primary 2xx response (200 > 201 > 202 > 203 > other 2xx in numeric
//! order > `2XX`), its JSON content (`application/json` > `*+json` > `text/json`), converted in
//! output mode (`writeOnly` dropped). An object schema is used as is (a top-level `$ref` is
//! inlined, `allOf` of objects merged); anything else is wrapped as
//! `{"type":"object","properties":{<key>: S},"required":[<key>]}`.

use indexmap::IndexSet;
use serde_json::{Map, Value, json};

use crate::compiler::Compiler;
use crate::refs::PointerExt;
use crate::refs::{Loc, child};
use crate::schema::Mode;

/// The output schema, its `$defs` roots, and the wrap key (when wrapped).
pub(crate) struct RawOutput {
    pub schema: Map<String, Value>,
    pub wrap: Option<String>,
}

fn code_rank(code: &str) -> Option<u32> {
    match code {
        "200" => Some(0),
        "201" => Some(1),
        "202" => Some(2),
        "203" => Some(3),
        "2XX" | "2xx" => Some(1000),
        c if c.len() == 3 && c.starts_with('2') => c.parse::<u32>().ok(),
        _ => None,
    }
}

fn json_rank(mt: &str) -> Option<u8> {
    let e = mt
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if e == "application/json" {
        Some(0)
    } else if e.ends_with("+json") {
        Some(1)
    } else if e == "text/json" {
        Some(2)
    } else {
        None
    }
}

impl Compiler<'_> {
    /// Compiles the output schema of the operation at `op`.
    pub(crate) fn compile_output(
        &mut self,
        op: &Loc,
        deps: &mut IndexSet<usize>,
    ) -> Result<Option<RawOutput>, String> {
        let d = self.doc(op.0);
        let Some(responses) = d.ptr(&child(&op.1, "responses")).and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some(code) = responses
            .keys()
            .filter_map(|c| code_rank(c).map(|r| (r, c)))
            .min()
            .map(|(_, c)| c.clone())
        else {
            return Ok(None);
        };
        let rloc = self.follow((op.0, child(&child(&op.1, "responses"), &code)))?;
        let rd = self.doc(rloc.0);
        let Some(content) = rd
            .ptr(&child(&rloc.1, "content"))
            .and_then(Value::as_object)
        else {
            return Ok(None);
        };
        let Some((_, media)) = content
            .iter()
            .filter_map(|(mt, m)| json_rank(mt).map(|r| (r, m)))
            .min_by_key(|(r, _)| *r)
        else {
            return Ok(None);
        };
        let Some(schema) = media.get("schema") else {
            return Ok(None);
        };
        // Follow a top-level `$ref` so an object response is inlined rather than wrapped.
        let (sdoc, snode_owner, sptr) = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let loc = self.resolve_ref(rloc.0, r)?;
                let loc = self.follow(loc)?;
                let dd = self.doc(loc.0);
                (loc.0, dd, Some(loc.1))
            }
            None => (rloc.0, rd.clone(), None),
        };
        let snode = match &sptr {
            Some(p) => snode_owner.ptr(p).unwrap_or(&Value::Null),
            None => schema,
        };
        let is_object = snode.get("type").and_then(Value::as_str) == Some("object")
            || (snode.get("type").is_none()
                && (snode.get("properties").is_some()
                    || snode.get("additionalProperties").is_some())
                && !["oneOf", "anyOf", "allOf", "not", "$ref"]
                    .iter()
                    .any(|k| snode.get(*k).is_some())
                && snode.get("nullable") != Some(&Value::Bool(true)));
        if is_object {
            // A referenced schema is converted once (memoized) however many operations return it.
            let conv = match &sptr {
                Some(p) => {
                    let id = self.def_id((sdoc, p.clone()));
                    let entry = self.def_entry(id, Mode::Output)?;
                    deps.extend(entry.deps.iter().copied());
                    entry.schema.clone()
                }
                None => self.convert_schema(snode, sdoc, Mode::Output, deps)?,
            };
            if let Value::Object(mut o) = conv
                && match o.get("type") {
                    None => true,
                    Some(Value::String(t)) => t == "object",
                    Some(_) => false,
                }
            {
                o.entry("type").or_insert_with(|| "object".into());
                return Ok(Some(RawOutput {
                    schema: o,
                    wrap: None,
                }));
            }
        } else if snode.get("allOf").is_some()
            && let Some(shape) = self.object_shape(snode, sdoc, Mode::Output, deps, 0)?
        {
            let mut o = Map::new();
            o.insert("type".into(), "object".into());
            if let Some(d) = shape.description {
                o.insert("description".into(), d.into());
            }
            o.insert(
                "properties".into(),
                Value::Object(shape.properties.into_iter().collect()),
            );
            if !shape.required.is_empty() {
                o.insert(
                    "required".into(),
                    shape.required.into_iter().collect::<Vec<_>>().into(),
                );
            }
            if let Some(ap) = shape.additional {
                o.insert("additionalProperties".into(), ap);
            }
            return Ok(Some(RawOutput {
                schema: o,
                wrap: None,
            }));
        }
        let inner = self.convert_schema(schema, rloc.0, Mode::Output, deps)?;
        let key = self.opts.output_wrap_key.clone();
        let wrapped = json!({
            "type": "object",
            "properties": { key.clone(): inner },
            "required": [key.clone()],
        });
        let Value::Object(o) = wrapped else {
            unreachable!("json! object literal")
        };
        Ok(Some(RawOutput {
            schema: o,
            wrap: Some(key),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_code_order() {
        let mut codes = ["204", "2XX", "201", "default", "200"]
            .iter()
            .filter_map(|c| code_rank(c).map(|r| (r, *c)))
            .collect::<Vec<_>>();
        codes.sort();
        assert_eq!(codes.first().unwrap().1, "200");
        assert_eq!(codes.last().unwrap().1, "2XX");
    }
}
