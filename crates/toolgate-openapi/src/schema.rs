//! OpenAPI Schema Object (3.0, 3.1, Swagger 2.0 leftovers) → JSON Schema 2020-12.
//!
//! Owns: keyword conversion (`nullable` → `"null"` in `type`/`enum`, boolean
//! `exclusiveMinimum`/`exclusiveMaximum` → numeric, `example` → `examples`, tuple `items` →
//! `prefixItems`, `type: file` → base64 string), dropping OpenAPI-only and spec-extension
//! keywords (`xml`, `externalDocs`, `x-*`) and values that would make a validator reject the
//! schema, removing `readOnly` properties from inputs and `writeOnly` ones from outputs,
//! rewriting `$ref`s to `#/$defs/<Name>` (see [`crate::refs`]), and flattening a top-level
//! object (following `$ref` and merging `allOf`) for request bodies and outputs.
//!
//! Does not own: deciding which schema an operation uses (params, body, output modules).

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value, json};

use crate::compiler::Compiler;
use crate::refs::PointerExt;

/// Which side of the call a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    /// Tool arguments: `readOnly` properties are dropped.
    Input,
    /// Tool results: `writeOnly` properties are dropped.
    Output,
}

const VALID_TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "string", "integer",
];

/// Keywords whose value is a map of schemas.
const SCHEMA_MAPS: [&str; 3] = ["properties", "patternProperties", "dependentSchemas"];
/// Keywords whose value is one schema.
const SCHEMA_ONE: [&str; 11] = [
    "additionalProperties",
    "additionalItems",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentSchema",
];
/// Keywords whose value is an array of schemas.
const SCHEMA_ARRAYS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords that must be non-negative integers.
const COUNTS: [&str; 8] = [
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
];

/// A flattened object schema (top-level `$ref` followed, `allOf` merged).
#[derive(Debug, Default)]
pub(crate) struct ObjectShape {
    /// Converted property schemas, in order.
    pub properties: IndexMap<String, Value>,
    /// Required property names (those still present).
    pub required: IndexSet<String>,
    /// Description of the object.
    pub description: Option<String>,
    /// `additionalProperties` of the outermost object, converted.
    pub additional: Option<Value>,
}

fn drop_property(raw: &Value, mode: Mode) -> bool {
    let key = match mode {
        Mode::Input => "readOnly",
        Mode::Output => "writeOnly",
    };
    raw.get(key) == Some(&Value::Bool(true))
}

impl Compiler<'_> {
    /// Converts one schema node found in document `doc`; referenced defs go to `deps`.
    pub(crate) fn convert_schema(
        &mut self,
        node: &Value,
        doc: usize,
        mode: Mode,
        deps: &mut IndexSet<usize>,
    ) -> Result<Value, String> {
        let obj = match node {
            Value::Object(o) => o,
            Value::Bool(_) => return Ok(node.clone()),
            other => {
                return Err(format!(
                    "a schema must be an object or a boolean, found `{other}`"
                ));
            }
        };
        let mut out = Map::with_capacity(obj.len());
        let mut nullable = false;
        let mut example = None;
        let mut excl_min = false;
        let mut excl_max = false;
        for (k, v) in obj {
            let k = k.as_str();
            match k {
                "$ref" => {
                    let r = v.as_str().ok_or("`$ref` is not a string")?;
                    let loc = self.resolve_ref(doc, r)?;
                    let id = self.def_id(loc);
                    deps.insert(id);
                    out.insert("$ref".into(), Value::String(self.def_ref(id)));
                }
                "properties" => {
                    let Some(props) = v.as_object() else { continue };
                    let mut m = Map::with_capacity(props.len());
                    for (name, p) in props {
                        if drop_property(p, mode) {
                            continue;
                        }
                        m.insert(name.clone(), self.convert_schema(p, doc, mode, deps)?);
                    }
                    out.insert(k.into(), Value::Object(m));
                }
                _ if SCHEMA_MAPS.contains(&k) => {
                    let Some(props) = v.as_object() else { continue };
                    let mut m = Map::with_capacity(props.len());
                    for (name, p) in props {
                        m.insert(name.clone(), self.convert_schema(p, doc, mode, deps)?);
                    }
                    out.insert(k.into(), Value::Object(m));
                }
                "items" => match v {
                    Value::Array(items) => {
                        let mut a = Vec::with_capacity(items.len());
                        for i in items {
                            a.push(self.convert_schema(i, doc, mode, deps)?);
                        }
                        out.insert("prefixItems".into(), Value::Array(a));
                    }
                    Value::Object(_) | Value::Bool(_) => {
                        out.insert(k.into(), self.convert_schema(v, doc, mode, deps)?);
                    }
                    _ => {}
                },
                _ if SCHEMA_ONE.contains(&k) => {
                    if v.is_object() || v.is_boolean() {
                        out.insert(k.into(), self.convert_schema(v, doc, mode, deps)?);
                    }
                }
                _ if SCHEMA_ARRAYS.contains(&k) => {
                    let Some(items) = v.as_array() else { continue };
                    if items.is_empty() {
                        continue;
                    }
                    let mut a = Vec::with_capacity(items.len());
                    for i in items {
                        a.push(self.convert_schema(i, doc, mode, deps)?);
                    }
                    out.insert(k.into(), Value::Array(a));
                }
                "nullable" | "x-nullable" => nullable = v == &Value::Bool(true),
                "example" => example = Some(v.clone()),
                "examples" => {
                    if let Value::Array(_) = v {
                        out.insert(k.into(), v.clone());
                    }
                }
                "exclusiveMinimum" | "exclusiveMaximum" => match v {
                    Value::Bool(b) => {
                        if k == "exclusiveMinimum" {
                            excl_min = *b;
                        } else {
                            excl_max = *b;
                        }
                    }
                    Value::Number(_) => {
                        out.insert(k.into(), v.clone());
                    }
                    _ => {}
                },
                "minimum" | "maximum" => {
                    if v.is_number() {
                        out.insert(k.into(), v.clone());
                    }
                }
                "multipleOf" => {
                    if v.as_f64().is_some_and(|f| f > 0.0) {
                        out.insert(k.into(), v.clone());
                    }
                }
                _ if COUNTS.contains(&k) => {
                    if let Some(n) = v.as_u64() {
                        out.insert(k.into(), n.into());
                    } else if let Some(f) = v.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0) {
                        out.insert(k.into(), (f as u64).into());
                    }
                }
                "type" => match v {
                    Value::String(t) if t == "file" => {
                        out.insert(k.into(), "string".into());
                        out.insert("contentEncoding".into(), "base64".into());
                    }
                    Value::String(t) if VALID_TYPES.contains(&t.as_str()) => {
                        out.insert(k.into(), v.clone());
                    }
                    Value::Array(ts) => {
                        let mut seen = IndexSet::new();
                        for t in ts.iter().filter_map(Value::as_str) {
                            if VALID_TYPES.contains(&t) {
                                seen.insert(t);
                            }
                        }
                        if !seen.is_empty() {
                            out.insert(k.into(), seen.into_iter().collect::<Vec<_>>().into());
                        }
                    }
                    _ => {}
                },
                "required" => {
                    if let Value::Array(a) = v {
                        let names: IndexSet<&str> = a.iter().filter_map(Value::as_str).collect();
                        out.insert(k.into(), names.into_iter().collect::<Vec<_>>().into());
                    }
                }
                "enum" => {
                    if v.is_array() {
                        out.insert(k.into(), v.clone());
                    }
                }
                "pattern" => {
                    if let Value::String(p) = v
                        && self.pattern_ok(p)
                    {
                        out.insert(k.into(), v.clone());
                    }
                }
                "format" | "description" | "title" | "contentEncoding" | "contentMediaType" => {
                    if v.is_string() {
                        out.insert(k.into(), v.clone());
                    }
                }
                "uniqueItems" | "readOnly" | "writeOnly" | "deprecated" => {
                    if v.is_boolean() {
                        out.insert(k.into(), v.clone());
                    }
                }
                "discriminator" => {
                    if let Some(d) = self.convert_discriminator(v, doc, deps) {
                        out.insert(k.into(), d);
                    }
                }
                // OpenAPI-only, identity and dynamic-scope keywords: they would either confuse a
                // validator (`$id` changes the base of our `#/$defs` refs) or mean nothing here.
                // Nested `$defs`/`definitions` are dropped because refs into them are
                // re-homed into the tool's top-level `$defs`.
                "xml" | "externalDocs" | "$id" | "id" | "$schema" | "$anchor"
                | "$dynamicAnchor" | "$dynamicRef" | "$recursiveRef" | "$recursiveAnchor"
                | "$vocabulary" | "$comment" | "$defs" | "definitions" | "dependencies" => {}
                _ if k.starts_with("x-") => {}
                _ => {
                    out.insert(k.into(), v.clone());
                }
            }
        }
        if excl_min && let Some(m) = out.remove("minimum") {
            out.insert("exclusiveMinimum".into(), m);
        }
        if excl_max && let Some(m) = out.remove("maximum") {
            out.insert("exclusiveMaximum".into(), m);
        }
        if let Some(ex) = example
            && !out.contains_key("examples")
        {
            out.insert("examples".into(), Value::Array(vec![ex]));
        }
        if let (Some(Value::Object(props)), Some(Value::Array(req))) =
            (out.get("properties"), out.get("required"))
            && req
                .iter()
                .any(|r| r.as_str().is_some_and(|r| !props.contains_key(r)))
        {
            // Keep only required names that still exist, unless the property was dropped for
            // this mode (readOnly/writeOnly) — then it must not be required either.
            let dropped: Vec<String> = obj
                .get("properties")
                .and_then(Value::as_object)
                .map(|raw| {
                    raw.iter()
                        .filter(|(_, p)| drop_property(p, mode))
                        .map(|(n, _)| n.clone())
                        .collect()
                })
                .unwrap_or_default();
            let req: Vec<Value> = req
                .iter()
                .filter(|r| r.as_str().is_none_or(|r| !dropped.iter().any(|d| d == r)))
                .cloned()
                .collect();
            out.insert("required".into(), Value::Array(req));
        }
        if nullable {
            return Ok(make_nullable(out));
        }
        Ok(Value::Object(out))
    }

    fn convert_discriminator(
        &mut self,
        v: &Value,
        doc: usize,
        deps: &mut IndexSet<usize>,
    ) -> Option<Value> {
        let obj = v.as_object()?;
        let mut out = Map::new();
        if let Some(p) = obj.get("propertyName") {
            out.insert("propertyName".into(), p.clone());
        }
        if let Some(mapping) = obj.get("mapping").and_then(Value::as_object) {
            let mut m = Map::new();
            for (k, target) in mapping {
                let Some(t) = target.as_str() else { continue };
                let r = if t.contains('#') || t.contains('/') || t.contains('.') {
                    t.to_owned()
                } else {
                    format!("#/components/schemas/{t}")
                };
                // A mapping target that does not resolve is just dropped: the oneOf/anyOf still
                // validates, the discriminator is only a hint.
                if let Ok(loc) = self.resolve_ref(doc, &r) {
                    let id = self.def_id(loc);
                    deps.insert(id);
                    m.insert(k.clone(), Value::String(self.def_ref(id)));
                }
            }
            out.insert("mapping".into(), Value::Object(m));
        }
        Some(Value::Object(out))
    }

    /// Whether a `pattern` compiles (invalid ones are dropped rather than break validation).
    fn pattern_ok(&mut self, p: &str) -> bool {
        if let Some(&ok) = self.patterns.get(p) {
            return ok;
        }
        let ok = regex::Regex::new(p).is_ok();
        self.patterns.insert(p.to_owned(), ok);
        ok
    }

    /// The shape of a plain referenced object schema (no composition), taken from the memoized
    /// def conversion so shared bodies are converted once.
    fn memoized_shape(
        &mut self,
        target: &Value,
        loc: &crate::refs::Loc,
        mode: Mode,
        deps: &mut IndexSet<usize>,
    ) -> Result<Option<ObjectShape>, String> {
        let plain = target.get("type").and_then(Value::as_str) == Some("object")
            && target.get("properties").is_some_and(Value::is_object)
            && !["allOf", "oneOf", "anyOf", "not", "$ref", "nullable"]
                .iter()
                .any(|k| target.get(*k).is_some());
        if !plain {
            return Ok(None);
        }
        let id = self.def_id(loc.clone());
        let entry = self.def_entry(id, mode)?;
        let Some(props) = entry.schema.get("properties").and_then(Value::as_object) else {
            return Ok(None);
        };
        if props.is_empty() {
            return Ok(None);
        }
        deps.extend(entry.deps.iter().copied());
        let mut shape = ObjectShape {
            properties: props.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            description: entry
                .schema
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            additional: entry.schema.get("additionalProperties").cloned(),
            ..ObjectShape::default()
        };
        if let Some(req) = entry.schema.get("required").and_then(Value::as_array) {
            shape.required = req
                .iter()
                .filter_map(Value::as_str)
                .filter(|r| props.contains_key(*r))
                .map(str::to_owned)
                .collect();
        }
        Ok(Some(shape))
    }

    /// Flattens the object schema at `node` (in `doc`): follows `$ref`s and merges `allOf`.
    /// `None` when it is not clearly an object with properties (array, primitive, free-form
    /// map, `oneOf`/`anyOf`, ...).
    pub(crate) fn object_shape(
        &mut self,
        node: &Value,
        doc: usize,
        mode: Mode,
        deps: &mut IndexSet<usize>,
        depth: usize,
    ) -> Result<Option<ObjectShape>, String> {
        if depth > 32 {
            return Ok(None);
        }
        if let Some(r) = node.get("$ref") {
            let r = r.as_str().ok_or("`$ref` is not a string")?;
            let loc = self.resolve_ref(doc, r)?;
            let d = self.doc(loc.0);
            let target = d.ptr(&loc.1).unwrap_or(&Value::Null);
            let shape = match self.memoized_shape(target, &loc, mode, deps)? {
                Some(s) => Some(s),
                None => self.object_shape(target, loc.0, mode, deps, depth + 1)?,
            };
            return Ok(shape.map(|mut s| {
                if let Some(desc) = node.get("description").and_then(Value::as_str) {
                    s.description = Some(desc.to_owned());
                }
                s
            }));
        }
        let Some(obj) = node.as_object() else {
            return Ok(None);
        };
        if obj.contains_key("oneOf")
            || obj.contains_key("anyOf")
            || obj.contains_key("not")
            || obj.get("nullable") == Some(&Value::Bool(true))
        {
            return Ok(None);
        }
        match obj.get("type") {
            None => {}
            Some(Value::String(t)) if t == "object" => {}
            Some(_) => return Ok(None),
        }
        let mut shape = ObjectShape {
            description: obj
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..ObjectShape::default()
        };
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            for member in all {
                let Some(s) = self.object_shape(member, doc, mode, deps, depth + 1)? else {
                    return Ok(None);
                };
                shape.properties.extend(s.properties);
                shape.required.extend(s.required);
                if shape.description.is_none() {
                    shape.description = s.description;
                }
            }
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (name, p) in props {
                if drop_property(p, mode) {
                    continue;
                }
                let conv = self.convert_schema(p, doc, mode, deps)?;
                shape.properties.insert(name.clone(), conv);
            }
        }
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            shape
                .required
                .extend(req.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if let Some(ap) = obj.get("additionalProperties")
            && (ap.is_object() || ap.is_boolean())
        {
            shape.additional = Some(self.convert_schema(ap, doc, mode, deps)?);
        }
        if shape.properties.is_empty() {
            return Ok(None);
        }
        let props = &shape.properties;
        shape.required.retain(|r| props.contains_key(r));
        Ok(Some(shape))
    }
}

/// Applies OpenAPI 3.0 `nullable: true` to an already converted schema.
pub(crate) fn make_nullable(mut out: Map<String, Value>) -> Value {
    if let Some(Value::Array(e)) = out.get_mut("enum")
        && !e.contains(&Value::Null)
    {
        e.push(Value::Null);
    }
    match out.get_mut("type") {
        Some(Value::String(t)) => {
            if t != "null" {
                let t = std::mem::take(t);
                out.insert("type".into(), json!([t, "null"]));
            }
            Value::Object(out)
        }
        Some(Value::Array(ts)) => {
            if !ts.iter().any(|t| t == "null") {
                ts.push("null".into());
            }
            Value::Object(out)
        }
        _ => {
            let composed = ["$ref", "allOf", "anyOf", "oneOf", "const", "enum", "not"]
                .iter()
                .any(|k| out.contains_key(*k));
            if !composed {
                // No type and no composition: already accepts null.
                return Value::Object(out);
            }
            let mut outer = Map::new();
            for k in ["title", "description", "default", "examples", "deprecated"] {
                if let Some(v) = out.remove(k) {
                    outer.insert(k.into(), v);
                }
            }
            outer.insert(
                "anyOf".into(),
                json!([Value::Object(out), {"type": "null"}]),
            );
            Value::Object(outer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn nullable_type_becomes_union() {
        assert_eq!(
            make_nullable(obj(json!({"type": "string"}))),
            json!({"type": ["string", "null"]})
        );
    }

    #[test]
    fn nullable_enum_gets_null() {
        assert_eq!(
            make_nullable(obj(json!({"type": "string", "enum": ["a"]}))),
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );
    }

    #[test]
    fn nullable_ref_is_wrapped_in_any_of() {
        assert_eq!(
            make_nullable(obj(json!({"$ref": "#/$defs/A", "description": "d"}))),
            json!({"description": "d", "anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]})
        );
    }

    #[test]
    fn nullable_without_type_is_unchanged() {
        assert_eq!(
            make_nullable(obj(json!({"description": "x"}))),
            json!({"description": "x"})
        );
    }
}
