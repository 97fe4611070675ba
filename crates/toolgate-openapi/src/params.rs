//! Parameters: path-item and operation parameters merged (operation wins on the same
//! `name`+`in`), `$ref`s followed, schema taken from `schema` or the first `content` media type,
//! parameter-level `description`/`example(s)`/`default`/`deprecated` hoisted into the argument
//! schema, and `style`/`explode` defaulted per OpenAPI (form for query/cookie, simple for
//! path/header; explode only for form). Header parameters named `Accept`, `Content-Type` or
//! `Authorization` are ignored, as the OpenAPI spec says.

use indexmap::IndexSet;
use serde_json::{Map, Value};

use crate::compiler::{Compiler, OpCtx};
use crate::ir::{ParamLocation, ParamStyle};
use crate::refs::{Loc, PointerExt, child};
use crate::schema::Mode;

/// A parameter before collision resolution.
pub(crate) struct RawParam {
    pub name: String,
    pub location: ParamLocation,
    pub required: bool,
    pub style: ParamStyle,
    pub explode: bool,
    pub allow_reserved: bool,
    pub content_type: Option<String>,
    pub schema: Value,
}

/// The default style of a location.
pub fn default_style(location: ParamLocation) -> ParamStyle {
    match location {
        ParamLocation::Query | ParamLocation::Cookie => ParamStyle::Form,
        ParamLocation::Path | ParamLocation::Header => ParamStyle::Simple,
    }
}

/// The default `explode` of a style: true only for `form`.
pub fn default_explode(style: ParamStyle) -> bool {
    style == ParamStyle::Form
}

fn parse_style(s: &str) -> Option<ParamStyle> {
    Some(match s {
        "form" => ParamStyle::Form,
        "simple" => ParamStyle::Simple,
        "label" => ParamStyle::Label,
        "matrix" => ParamStyle::Matrix,
        "spaceDelimited" => ParamStyle::SpaceDelimited,
        "pipeDelimited" => ParamStyle::PipeDelimited,
        "deepObject" => ParamStyle::DeepObject,
        "tabDelimited" => ParamStyle::TabDelimited,
        _ => return None,
    })
}

fn parse_location(s: &str) -> Option<ParamLocation> {
    Some(match s {
        "path" => ParamLocation::Path,
        "query" => ParamLocation::Query,
        "header" => ParamLocation::Header,
        "cookie" => ParamLocation::Cookie,
        _ => return None,
    })
}

impl Compiler<'_> {
    /// Collects the parameter locations of a path item and an operation, merged.
    pub(crate) fn merged_param_locs(
        &mut self,
        path_item: &Loc,
        op: &Loc,
    ) -> Result<Vec<Loc>, String> {
        let mut out: Vec<(String, String, Loc)> = Vec::new();
        for (level, base) in [path_item, op].into_iter().enumerate() {
            let d = self.doc(base.0);
            let list_ptr = child(&base.1, "parameters");
            let Some(list) = d.ptr(&list_ptr) else {
                continue;
            };
            let Some(list) = list.as_array() else {
                return Err(format!("`#{list_ptr}` is not an array"));
            };
            for i in 0..list.len() {
                let loc = self.follow((base.0, format!("{list_ptr}/{i}")))?;
                let d2 = self.doc(loc.0);
                let p = d2.ptr(&loc.1).unwrap_or(&Value::Null);
                let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                let inn = p.get("in").and_then(Value::as_str).unwrap_or_default();
                let key = (name.to_owned(), inn.to_owned());
                // Nameless parameters are not merged: each gets its own warning.
                match out
                    .iter_mut()
                    .find(|(n, i, _)| !name.is_empty() && (n, i) == (&key.0, &key.1))
                {
                    Some(slot) if level == 1 => slot.2 = loc,
                    Some(_) => {}
                    None => out.push((key.0, key.1, loc)),
                }
            }
        }
        Ok(out.into_iter().map(|(_, _, l)| l).collect())
    }

    /// Compiles one (already dereferenced) parameter. `Ok(None)` = ignored (with a warning).
    pub(crate) fn compile_param(
        &mut self,
        ctx: &OpCtx,
        loc: &Loc,
        deps: &mut IndexSet<usize>,
    ) -> Result<Option<RawParam>, String> {
        let d = self.doc(loc.0);
        let p = d
            .ptr(&loc.1)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("parameter `#{}` is not an object", loc.1))?;
        let Some(name) = p
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            // Nothing can be sent under no name; the operation itself still works.
            self.warn(
                ctx,
                &loc.1,
                "parameter without a `name` (or with an empty one) is ignored".to_owned(),
            );
            return Ok(None);
        };
        let inn = p.get("in").and_then(Value::as_str).unwrap_or_default();
        let location = parse_location(inn).ok_or_else(|| {
            format!(
                "parameter `{name}` (`#{}`) has unsupported `in: {inn}`; expected path, query, header or cookie",
                loc.1
            )
        })?;
        if location == ParamLocation::Header
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            self.warn(
                ctx,
                &loc.1,
                format!(
                    "header parameter `{name}` is ignored (OpenAPI: Accept, Content-Type and Authorization are controlled by the media type and security scheme)"
                ),
            );
            return Ok(None);
        }
        let mut content_type = None;
        let mut schema = if let Some(s) = p.get("schema") {
            self.convert_schema(s, loc.0, Mode::Input, deps)?
        } else if let Some((mt, media)) = p
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| c.iter().next())
        {
            content_type = Some(mt.clone());
            match media.get("schema") {
                Some(s) => self.convert_schema(s, loc.0, Mode::Input, deps)?,
                None => Value::Object(Map::new()),
            }
        } else {
            Value::Object(Map::new())
        };
        if let Value::Bool(true) = schema {
            schema = Value::Object(Map::new());
        }
        if let Value::Object(s) = &mut schema {
            hoist(p, s);
        }
        let style = match p.get("style").and_then(Value::as_str) {
            Some(s) => match parse_style(s) {
                Some(st) => st,
                None => {
                    self.warn(
                        ctx,
                        &loc.1,
                        format!("parameter `{name}` has unknown style `{s}`; using the default"),
                    );
                    default_style(location)
                }
            },
            None => default_style(location),
        };
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| default_explode(style));
        Ok(Some(RawParam {
            name: name.to_owned(),
            location,
            required: location == ParamLocation::Path
                || p.get("required").and_then(Value::as_bool).unwrap_or(false),
            style,
            explode,
            allow_reserved: p
                .get("allowReserved")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            content_type,
            schema,
        }))
    }
}

/// Hoists parameter-level annotations into the argument schema.
fn hoist(p: &Map<String, Value>, s: &mut Map<String, Value>) {
    if let Some(d) = p.get("description").and_then(Value::as_str)
        && !d.trim().is_empty()
    {
        s.insert("description".into(), d.into());
    }
    if let Some(def) = p.get("default") {
        s.insert("default".into(), def.clone());
    }
    if let Some(ex) = p.get("example") {
        s.insert("examples".into(), Value::Array(vec![ex.clone()]));
    } else if let Some(exs) = p.get("examples").and_then(Value::as_object) {
        let values: Vec<Value> = exs
            .values()
            .filter_map(|e| e.get("value"))
            .cloned()
            .collect();
        if !values.is_empty() {
            s.insert("examples".into(), Value::Array(values));
        }
    }
    if p.get("deprecated") == Some(&Value::Bool(true)) {
        s.insert("deprecated".into(), true.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_defaults_follow_openapi() {
        assert_eq!(default_style(ParamLocation::Query), ParamStyle::Form);
        assert_eq!(default_style(ParamLocation::Cookie), ParamStyle::Form);
        assert_eq!(default_style(ParamLocation::Path), ParamStyle::Simple);
        assert_eq!(default_style(ParamLocation::Header), ParamStyle::Simple);
        assert!(default_explode(ParamStyle::Form));
        assert!(!default_explode(ParamStyle::Simple));
        assert!(!default_explode(ParamStyle::PipeDelimited));
        assert!(!default_explode(ParamStyle::SpaceDelimited));
        assert!(!default_explode(ParamStyle::DeepObject));
    }

    #[test]
    fn hoists_example_default_description() {
        let p =
            serde_json::json!({"description": "d", "example": 3, "default": 1, "deprecated": true});
        let mut s = Map::new();
        hoist(p.as_object().unwrap(), &mut s);
        assert_eq!(
            Value::Object(s),
            serde_json::json!({"description": "d", "default": 1, "examples": [3], "deprecated": true})
        );
    }
}
