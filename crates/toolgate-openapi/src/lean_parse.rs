//! Parsing a spec without the parts the compiler never reads.
//!
//! Owns: the map of an OpenAPI 2.0/3.x document's structure that says, for each location, what
//! may be left out ([`Ctx`]), a JSON parser that leaves those parts out while parsing (they are
//! scanned, never built), and the check that no `$ref` points into them.
//!
//! Big descriptions are mostly examples: GitHub's is 13 MB, of which `components/examples`,
//! media-type `examples` and `x-webhooks` are about a third, and as a `serde_json::Value`
//! tree (with `preserve_order`) the document takes four times its size in memory. Objects and
//! arrays are also built at their exact size rather than grown by doubling.
//!
//! What is left out, by location (nothing else; in particular nothing inside schemas, so a
//! property named `examples` is kept):
//! - the root's `webhooks`, `x-webhooks`, `tags` and `externalDocs`;
//! - `components/examples`, `components/links` and `components/callbacks`;
//! - an operation's `callbacks` and `externalDocs`;
//! - a response's `links` (and Swagger 2.0 `examples`);
//! - a media type's `example` and `examples` (in `content` of a request body, response,
//!   parameter or header; parameter-level `example(s)` are kept: they become argument examples).
//!
//! A `$ref` may point anywhere, so whether a location is left out depends only on its JSON
//! pointer, and every local `$ref` met while parsing is checked against the same map: if one
//! points into a left-out part, the document is parsed again in full. References to other
//! documents need no check: those are loaded in full by the [`crate::DocumentLoader`] (a
//! reference back to this document by its file name too).
//!
//! Does not own: YAML (see `parse`, which applies the same map while converting to JSON).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::refs::{decode_fragment, unescape_token};

/// Where a node sits in an OpenAPI document, as far as leaving parts out is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// The document root.
    Root,
    /// `paths`.
    Paths,
    /// A Path Item.
    PathItem,
    /// An Operation.
    Operation,
    /// A `parameters` list (or map, in Swagger 2.0's root and in `components`).
    Parameters,
    /// A Parameter or Header.
    Parameter,
    /// A Request Body.
    RequestBody,
    /// `responses` (or a map of named responses).
    Responses,
    /// A Response.
    Response,
    /// A map of Headers.
    Headers,
    /// A `content` map.
    Content,
    /// A Media Type.
    MediaType,
    /// `components`.
    Components,
    /// A map of named request bodies.
    RequestBodies,
    /// A map of named path items.
    PathItems,
    /// A schema, or anything else not listed here: kept whole. `$ref`s in it are checked.
    Schema,
    /// A map of schemas by name (`properties`, `components/schemas`, ...): kept whole.
    SchemaMap,
    /// A discriminator's `mapping`: kept whole; its string values are references.
    Mapping,
    /// A literal value (`example`, `enum`, `default`, ...): kept whole; the compiler copies it
    /// and never follows a `$ref` in it.
    Literal,
}

impl Ctx {
    /// Whether nothing below a node of this context is left out.
    fn keeps_all(self) -> bool {
        matches!(
            self,
            Ctx::Schema | Ctx::SchemaMap | Ctx::Mapping | Ctx::Literal
        )
    }
}

/// The context of `key` in a schema, or in a structural object where `key` is not one that
/// leads to more structure.
fn kept(key: &str) -> Ctx {
    match key {
        "example" | "examples" | "enum" | "default" | "const" => Ctx::Literal,
        "properties" | "patternProperties" | "dependentSchemas" | "$defs" | "definitions" => {
            Ctx::SchemaMap
        }
        "mapping" => Ctx::Mapping,
        _ => Ctx::Schema,
    }
}

/// The context of `key` inside a node of context `ctx`; `None` = left out. Array elements are
/// looked up by their index, as a JSON pointer addresses them.
pub(crate) fn child(ctx: Ctx, key: &str) -> Option<Ctx> {
    use Ctx::*;
    Some(match ctx {
        Schema => kept(key),
        SchemaMap | Mapping => Schema,
        Literal => Literal,
        Root => match key {
            "webhooks" | "x-webhooks" | "tags" | "externalDocs" => return None,
            "paths" => Paths,
            "components" => Components,
            // Swagger 2.0's shared parameters and responses.
            "parameters" => Parameters,
            "responses" => Responses,
            _ => kept(key),
        },
        Paths => {
            if key.starts_with("x-") {
                kept(key)
            } else {
                PathItem
            }
        }
        PathItem => match key {
            "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace" => Operation,
            "parameters" => Parameters,
            _ => kept(key),
        },
        Operation => match key {
            "callbacks" | "externalDocs" => return None,
            "parameters" => Parameters,
            "requestBody" => RequestBody,
            "responses" => Responses,
            _ => kept(key),
        },
        Parameters => Parameter,
        Headers => Parameter,
        Parameter | RequestBody => match key {
            "content" => Content,
            _ => kept(key),
        },
        Responses => {
            if key.starts_with("x-") {
                kept(key)
            } else {
                Response
            }
        }
        Response => match key {
            "links" | "examples" => return None,
            "content" => Content,
            "headers" => Headers,
            _ => kept(key),
        },
        Content => MediaType,
        MediaType => match key {
            "example" | "examples" => return None,
            _ => kept(key),
        },
        Components => match key {
            "examples" | "links" | "callbacks" => return None,
            "schemas" => SchemaMap,
            "parameters" => Parameters,
            "headers" => Headers,
            "requestBodies" => RequestBodies,
            "responses" => Responses,
            "pathItems" => PathItems,
            _ => kept(key),
        },
        RequestBodies => RequestBody,
        PathItems => PathItem,
    })
}

/// Whether a string found under `key` in a node of context `ctx` may be a reference the
/// compiler follows: a `$ref` anywhere but in a literal, or a discriminator mapping's target.
pub(crate) fn is_reference(ctx: Ctx, key: &str) -> bool {
    match ctx {
        Ctx::Literal => false,
        Ctx::Mapping => true,
        _ => key == "$ref",
    }
}

/// Whether `reference` (a `$ref` value) points into a part of this document that
/// [`child`] leaves out. References to other documents never do (they are loaded in full).
pub(crate) fn points_into_skipped(reference: &str) -> bool {
    let Some(frag) = reference.strip_prefix('#') else {
        return false;
    };
    // Nearly every reference names a schema, and nothing inside one is left out.
    if let Some(name) = frag
        .strip_prefix("/components/schemas/")
        .or_else(|| frag.strip_prefix("/definitions/"))
        && !name.contains(['/', '%'])
    {
        return false;
    }
    // An undecodable fragment fails the same way whether or not anything was left out.
    let Ok(ptr) = decode_fragment(frag) else {
        return false;
    };
    let Some(rest) = ptr.strip_prefix('/') else {
        return false;
    };
    let mut ctx = Ctx::Root;
    for token in rest.split('/') {
        match child(ctx, &unescape_token(token)) {
            None => return true,
            Some(c) if c.keeps_all() => return false,
            Some(c) => ctx = c,
        }
    }
    false
}

/// What a parse with [`Ctx`] produced.
pub(crate) struct Parsed {
    /// The document, without the left-out parts.
    pub value: Value,
    /// Whether a `$ref` points into a left-out part (the document must then be parsed in full).
    pub ref_into_skipped: bool,
}

/// Parses JSON text, leaving out what [`child`] says from `ctx` down (`Ctx::Schema`: nothing).
pub(crate) fn from_json_slice(bytes: &[u8], ctx: Ctx) -> serde_json::Result<Parsed> {
    let mut scratch = Scratch::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Node {
        ctx,
        scratch: &mut scratch,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(Parsed {
        value,
        ref_into_skipped: scratch.ref_into_skipped,
    })
}

/// Buffers shared by all nodes of one parse: the members of the objects and arrays being
/// built (as stacks, so each container is allocated once, at its final size).
#[derive(Default)]
struct Scratch {
    entries: Vec<(String, Value)>,
    items: Vec<Value>,
    ref_into_skipped: bool,
}

/// One node to parse, in context `ctx`.
struct Node<'s> {
    ctx: Ctx,
    scratch: &'s mut Scratch,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

// Mirrors `serde_json::Value`'s own visitor (numbers, null, strings), so what is kept is exactly
// what `serde_json::from_slice::<Value>` would build.
impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let start = self.scratch.items.len();
        let mut index = 0usize;
        loop {
            let ctx = if self.ctx.keeps_all() {
                Some(if self.ctx == Ctx::Literal {
                    Ctx::Literal
                } else {
                    Ctx::Schema
                })
            } else {
                child(self.ctx, &index.to_string())
            };
            index += 1;
            let more = match ctx {
                Some(ctx) => match seq.next_element_seed(Node {
                    ctx,
                    scratch: &mut *self.scratch,
                })? {
                    Some(v) => {
                        self.scratch.items.push(v);
                        true
                    }
                    None => false,
                },
                // Left out: scanned, never built.
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                break;
            }
        }
        let items: Vec<Value> = self.scratch.items.drain(start..).collect();
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let start = self.scratch.entries.len();
        while let Some(key) = map.next_key::<String>()? {
            let Some(ctx) = child(self.ctx, &key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value_seed(Node {
                ctx,
                scratch: &mut *self.scratch,
            })?;
            if let Value::String(r) = &value
                && is_reference(self.ctx, &key)
                && points_into_skipped(r)
            {
                self.scratch.ref_into_skipped = true;
            }
            self.scratch.entries.push((key, value));
        }
        let mut out = Map::with_capacity(self.scratch.entries.len() - start);
        for (k, v) in self.scratch.entries.drain(start..) {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_examples_are_left_out_but_schema_keys_named_alike_are_not() {
        assert_eq!(child(Ctx::MediaType, "examples"), None);
        assert_eq!(child(Ctx::MediaType, "example"), None);
        assert_eq!(child(Ctx::MediaType, "schema"), Some(Ctx::Schema));
        // Inside a schema nothing is left out, at any depth; a property may be named `examples`.
        assert_eq!(child(Ctx::Schema, "examples"), Some(Ctx::Literal));
        assert_eq!(child(Ctx::SchemaMap, "examples"), Some(Ctx::Schema));
        assert_eq!(child(Ctx::Components, "schemas"), Some(Ctx::SchemaMap));
        // Parameter-level examples become argument examples.
        assert_eq!(child(Ctx::Parameter, "examples"), Some(Ctx::Literal));
    }

    #[test]
    fn refs_into_left_out_parts_are_detected() {
        assert!(points_into_skipped("#/components/examples/foo"));
        assert!(points_into_skipped(
            "#/paths/~1a/get/responses/200/content/application~1json/examples/x"
        ));
        assert!(points_into_skipped(
            "#/paths/%7E1a/get/responses/200/content/application~1json/example"
        ));
        assert!(points_into_skipped("#/x-webhooks/push"));
        assert!(!points_into_skipped("#/components/schemas/examples"));
        assert!(!points_into_skipped(
            "#/components/schemas/A/properties/examples"
        ));
        assert!(!points_into_skipped(
            "#/paths/~1a/get/parameters/0/examples/x"
        ));
        assert!(!points_into_skipped("other.json#/components/examples/foo"));
        assert!(!points_into_skipped("#/components/responses/NotFound"));
    }

    fn ref_into_skipped(text: &str) -> bool {
        from_json_slice(text.as_bytes(), Ctx::Root)
            .unwrap()
            .ref_into_skipped
    }

    #[test]
    fn only_refs_the_compiler_may_follow_are_checked() {
        let target = r##""#/components/examples/x""##;
        // GitHub's description has a schema `example` that is a `$ref` object: a literal.
        assert!(!ref_into_skipped(&format!(
            r#"{{"components": {{"schemas": {{"A": {{"example": {{"$ref": {target}}}}}}}}}}}"#
        )));
        // A property named `example` is a schema: its `$ref` is followed.
        assert!(ref_into_skipped(&format!(
            r#"{{"components": {{"schemas": {{"A": {{"properties": {{"example": {{"$ref": {target}}}}}}}}}}}}}"#
        )));
        assert!(ref_into_skipped(&format!(
            r#"{{"components": {{"schemas": {{"A": {{"discriminator": {{"mapping": {{"a": {target}}}}}}}}}}}}}"#
        )));
    }

    #[test]
    fn kept_parts_equal_serde_json() {
        let text =
            br#"{"a": [1, -2, 3.5, -0.0, null, true, "s\u00e9", [], {}], "b": {"c": {}, "d": []},
            "a": "dup", "z": 1, "n": 18446744073709551615, "m": -9223372036854775808}"#;
        let ours = from_json_slice(text, Ctx::Literal).unwrap().value;
        let theirs: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(ours, theirs);
        // Same key order (duplicate keys keep their first position) and number forms.
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap()
        );
    }
}
