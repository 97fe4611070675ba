//! Request bodies: media type choice, object bodies flattened into arguments, everything else
//! (array, primitive, free-form map, `oneOf`, binary) as one `body` argument, multipart file
//! fields and per-part content types.
//!
//! Media type choice: the first of the spec's media types (in spec order) that is JSON
//! (`application/json`, `*/*+json`, `text/json`), form-urlencoded, multipart, `text/plain` or
//! `application/octet-stream`; failing that, the first media type at all (text-like types are sent
//! as a string, any other as base64-decoded bytes).

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value, json};

use crate::compiler::Compiler;
use crate::refs::Loc;
use crate::refs::PointerExt;
use crate::schema::Mode;

/// A body before collision resolution.
pub(crate) struct RawBody {
    pub content_type: String,
    pub required: bool,
    pub kind: RawBodyKind,
    pub file_fields: Vec<String>,
    pub part_content_types: Vec<(String, String)>,
}

pub(crate) enum RawBodyKind {
    /// Object body: property name → (schema, required).
    Properties(IndexMap<String, (Value, bool)>),
    /// One argument holding the whole body.
    Whole { schema: Value },
}

fn essence(mt: &str) -> String {
    mt.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// JSON media types (`application/json`, `*/*+json`, `text/json`).
pub(crate) fn is_json(mt: &str) -> bool {
    let e = essence(mt);
    e == "application/json" || e.ends_with("+json") || e == "text/json"
}

fn preferred(mt: &str) -> bool {
    let e = essence(mt);
    is_json(&e)
        || matches!(
            e.as_str(),
            "application/x-www-form-urlencoded"
                | "multipart/form-data"
                | "text/plain"
                | "application/octet-stream"
        )
}

fn is_texty(e: &str) -> bool {
    e.starts_with("text/") || e.ends_with("/xml") || e.ends_with("+xml")
}

fn is_file_schema(s: &Value) -> bool {
    matches!(
        s.get("format").and_then(Value::as_str),
        Some("binary" | "base64" | "byte")
    ) && s.get("type").and_then(Value::as_str).unwrap_or("string") == "string"
        || s.get("contentMediaType").is_some()
        || s.get("contentEncoding").is_some()
}

fn file_schema(mut s: Value, media: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), "string".into());
    out.insert("contentEncoding".into(), "base64".into());
    if let Some(m) = s
        .get("contentMediaType")
        .and_then(Value::as_str)
        .or(media)
        .filter(|m| !m.contains('*'))
    {
        out.insert("contentMediaType".into(), m.into());
    }
    let desc = s
        .get_mut("description")
        .and_then(|d| d.as_str().map(str::to_owned));
    let hint = "base64-encoded file content or a data: URI";
    let desc = match desc {
        Some(d) => format!("{} ({hint})", d.trim_end_matches('.')),
        None => format!("File: {hint}."),
    };
    out.insert("description".into(), desc.into());
    Value::Object(out)
}

impl Compiler<'_> {
    /// Compiles `requestBody` at `loc` (already dereferenced).
    pub(crate) fn compile_body(
        &mut self,
        loc: &Loc,
        deps: &mut IndexSet<usize>,
    ) -> Result<Option<RawBody>, String> {
        let d = self.doc(loc.0);
        let rb = d
            .ptr(&loc.1)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("requestBody `#{}` is not an object", loc.1))?;
        let required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
        let Some(content) = rb.get("content").and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some((mt, media)) = content
            .iter()
            .find(|(mt, _)| preferred(mt))
            .or_else(|| content.iter().next())
        else {
            return Ok(None);
        };
        let e = essence(mt);
        let description = rb.get("description").and_then(Value::as_str);
        let schema_node = media.get("schema");
        let mut file_fields = Vec::new();
        let mut part_content_types = Vec::new();
        let structured =
            is_json(&e) || e == "application/x-www-form-urlencoded" || e == "multipart/form-data";
        let kind = if structured {
            let shape = match schema_node {
                Some(s) => self.object_shape(s, loc.0, Mode::Input, deps, 0)?,
                None => None,
            };
            match shape {
                Some(shape) => {
                    let mut props = IndexMap::new();
                    for (name, mut s) in shape.properties {
                        if e == "multipart/form-data" {
                            let items_file = s.get("items").is_some_and(is_file_schema);
                            if is_file_schema(&s) {
                                s = file_schema(s, None);
                                file_fields.push(name.clone());
                            } else if items_file && let Some(items) = s.get_mut("items") {
                                *items = file_schema(items.take(), None);
                                file_fields.push(name.clone());
                            }
                        }
                        let req = required && shape.required.contains(&name);
                        props.insert(name, (s, req));
                    }
                    RawBodyKind::Properties(props)
                }
                None => {
                    let mut schema = match schema_node {
                        Some(s) => self.convert_schema(s, loc.0, Mode::Input, deps)?,
                        None => json!({}),
                    };
                    if let (Some(desc), Value::Object(o)) = (description, &mut schema)
                        && !o.contains_key("description")
                    {
                        o.insert("description".into(), desc.into());
                    }
                    RawBodyKind::Whole { schema }
                }
            }
        } else if is_texty(&e) {
            let mut s = json!({"type": "string"});
            if let Some(desc) = description {
                s["description"] = desc.into();
            }
            RawBodyKind::Whole { schema: s }
        } else {
            let mut s = file_schema(json!({}), Some(&e));
            if let Some(desc) = description {
                s["description"] = format!("{desc} (base64-encoded)").into();
            } else {
                s["description"] = "Request body, base64-encoded.".into();
            }
            RawBodyKind::Whole { schema: s }
        };
        if let Some(enc) = media.get("encoding").and_then(Value::as_object) {
            for (prop, e) in enc {
                if let Some(ct) = e.get("contentType").and_then(Value::as_str) {
                    part_content_types.push((prop.clone(), ct.to_owned()));
                }
            }
        }
        Ok(Some(RawBody {
            content_type: mt.clone(),
            required,
            kind,
            file_fields,
            part_content_types,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/vnd.api+json"));
        assert!(!is_json("application/xml"));
    }
}
