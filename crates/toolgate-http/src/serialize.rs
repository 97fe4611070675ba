//! OpenAPI 3.x parameter serialization: `style`/`explode` rules and RFC 3986 percent-encoding.
//!
//! This module owns turning one argument value into the text that goes into a path segment,
//! the query string, a header or a cookie, exactly as the spec's "Style Examples" table shows
//! (with the OAS 3.2 reading that `spaceDelimited`/`pipeDelimited` keep the `name=` prefix). It
//! is pure: it does not know about URLs, requests or safety checks on the assembled path
//! (that is [`crate::request`]'s job), and it does not validate header bytes.
//!
//! Conventions not fixed by the spec, chosen after RFC 6570:
//! - `null`, empty arrays and empty objects are *undefined*: they produce nothing (the query
//!   pair or cookie is omitted; a path or header value is empty).
//! - nested arrays/objects inside a value are sent as compact JSON.
//! - `deepObject` recurses into nested objects (`color[a][b]=1`) and repeats the key for
//!   arrays (`color[tags]=x&color[tags]=y`); brackets are sent literally as in the spec table.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use toolgate_openapi::ir::ParamStyle;

/// Everything except RFC 3986 unreserved characters (`ALPHA DIGIT - . _ ~`).
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How expanded text is escaped for its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// Percent-encode everything but unreserved characters (path segments, query values).
    Component,
    /// `allowReserved`: also keep RFC 3986 reserved characters and existing `%XX` triplets,
    /// except `#`, which would end the query and is always encoded.
    Reserved,
    /// Headers and cookies: no escaping (the caller rejects invalid bytes).
    Raw,
}

impl Escape {
    /// Escapes `text` for this destination.
    pub(crate) fn apply(self, text: &str) -> String {
        match self {
            Escape::Component => utf8_percent_encode(text, COMPONENT).to_string(),
            Escape::Raw => text.to_owned(),
            Escape::Reserved => encode_allow_reserved(text),
        }
    }
}

fn encode_allow_reserved(text: &str) -> String {
    const RESERVED: &[u8] = b":/?[]@!$&'()*+,;=";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let keep = b.is_ascii_alphanumeric()
            || b"-._~".contains(&b)
            || RESERVED.contains(&b)
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        i += 1;
    }
    out
}

/// A value reduced to the three shapes the style rules distinguish.
enum Shape {
    Scalar(String),
    List(Vec<String>),
    Pairs(Vec<(String, String)>),
}

/// Renders a primitive as text: strings verbatim, numbers as JSON renders them, booleans as
/// `true`/`false`, `null` as empty, nested structures as compact JSON.
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

fn shape(value: &Value) -> Option<Shape> {
    match value {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Object(map) if map.is_empty() => None,
        Value::Array(items) => Some(Shape::List(items.iter().map(scalar_text).collect())),
        Value::Object(map) => Some(Shape::Pairs(
            map.iter()
                .map(|(k, v)| (k.clone(), scalar_text(v)))
                .collect(),
        )),
        other => Some(Shape::Scalar(scalar_text(other))),
    }
}

/// Expands `value` for parameter `name` with `style`/`explode`.
///
/// Returns the pieces to emit: for `simple`, `label` and `matrix` at most one piece (the whole
/// path or header text); for `form` and the delimited styles one `k=v` piece per query pair
/// (the caller joins them with `&`, or `; ` for cookies). An empty result means "omit".
pub(crate) fn expand(
    style: ParamStyle,
    explode: bool,
    name: &str,
    value: &Value,
    esc: Escape,
) -> Vec<String> {
    let Some(shape) = shape(value) else {
        return Vec::new();
    };
    // Parameter names and object keys are always fully encoded where escaping applies.
    let key_esc = if esc == Escape::Raw {
        Escape::Raw
    } else {
        Escape::Component
    };
    let n = key_esc.apply(name);
    let e = |s: &str| esc.apply(s);
    let k = |s: &str| key_esc.apply(s);
    let flat = |pairs: &[(String, String)], sep: &str| {
        pairs
            .iter()
            .map(|(pk, pv)| format!("{}{sep}{}", k(pk), e(pv)))
            .collect::<Vec<_>>()
    };
    let joined =
        |items: &[String], sep: &str| items.iter().map(|i| e(i)).collect::<Vec<_>>().join(sep);
    match style {
        ParamStyle::Simple => vec![match shape {
            Shape::Scalar(s) => e(&s),
            Shape::List(items) => joined(&items, ","),
            Shape::Pairs(pairs) => flat(&pairs, if explode { "=" } else { "," }).join(","),
        }],
        ParamStyle::Label => vec![match shape {
            Shape::Scalar(s) => format!(".{}", e(&s)),
            Shape::List(items) => format!(".{}", joined(&items, if explode { "." } else { "," })),
            Shape::Pairs(pairs) if explode => format!(".{}", flat(&pairs, "=").join(".")),
            Shape::Pairs(pairs) => format!(".{}", flat(&pairs, ",").join(",")),
        }],
        ParamStyle::Matrix => vec![match shape {
            Shape::Scalar(s) if s.is_empty() => format!(";{n}"),
            Shape::Scalar(s) => format!(";{n}={}", e(&s)),
            Shape::List(items) if explode => {
                items.iter().map(|i| format!(";{n}={}", e(i))).collect()
            }
            Shape::List(items) => format!(";{n}={}", joined(&items, ",")),
            Shape::Pairs(pairs) if explode => {
                flat(&pairs, "=").iter().map(|p| format!(";{p}")).collect()
            }
            Shape::Pairs(pairs) => format!(";{n}={}", flat(&pairs, ",").join(",")),
        }],
        ParamStyle::Form
        | ParamStyle::SpaceDelimited
        | ParamStyle::PipeDelimited
        | ParamStyle::TabDelimited => {
            let sep = match style {
                ParamStyle::SpaceDelimited => "%20",
                ParamStyle::PipeDelimited => "|",
                ParamStyle::TabDelimited => "%09",
                _ => ",",
            };
            // Raw destinations (cookies) cannot carry percent-escapes as delimiters.
            let sep = match (esc, sep) {
                (Escape::Raw, "%20") => " ",
                (Escape::Raw, "%09") => "\t",
                (_, s) => s,
            };
            match shape {
                Shape::Scalar(s) => vec![format!("{n}={}", e(&s))],
                Shape::List(items) if explode => {
                    items.iter().map(|i| format!("{n}={}", e(i))).collect()
                }
                Shape::List(items) => vec![format!("{n}={}", joined(&items, sep))],
                Shape::Pairs(pairs) if explode => flat(&pairs, "="),
                Shape::Pairs(pairs) => vec![format!("{n}={}", flat(&pairs, sep).join(sep))],
            }
        }
        ParamStyle::DeepObject => match value {
            Value::Object(_) => {
                let mut out = Vec::new();
                deep_object(&n, value, esc, key_esc, &mut out);
                out
            }
            _ => expand(ParamStyle::Form, true, name, value, esc),
        },
    }
}

fn deep_object(prefix: &str, value: &Value, esc: Escape, key_esc: Escape, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                deep_object(
                    &format!("{prefix}[{}]", key_esc.apply(k)),
                    v,
                    esc,
                    key_esc,
                    out,
                );
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push(format!("{prefix}={}", esc.apply(&scalar_text(item))));
            }
        }
        Value::Null => {}
        other => out.push(format!("{prefix}={}", esc.apply(&scalar_text(other)))),
    }
}

/// Serializes a `content`-typed parameter: JSON media types get the JSON text of the value,
/// others the value's plain text.
pub(crate) fn content_text(content_type: &str, value: &Value) -> String {
    if crate::response::is_json_media_type(content_type) {
        value.to_string()
    } else {
        scalar_text(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParamStyle::*;
    use serde_json::json;

    /// The OpenAPI Style Examples table for a parameter `color` (OAS 3.1.0 §4.8.12.4, with the
    /// OAS 3.2 `name=` prefix for the delimited styles). `None` = n/a in the table.
    /// Columns: empty (""), string "blue", array, object.
    #[allow(clippy::type_complexity)]
    const TABLE: &[(ParamStyle, bool, [Option<&str>; 4])] = &[
        (
            Matrix,
            false,
            [
                Some(";color"),
                Some(";color=blue"),
                Some(";color=blue,black,brown"),
                Some(";color=R,100,G,200,B,150"),
            ],
        ),
        (
            Matrix,
            true,
            [
                Some(";color"),
                Some(";color=blue"),
                Some(";color=blue;color=black;color=brown"),
                Some(";R=100;G=200;B=150"),
            ],
        ),
        (
            Label,
            false,
            [
                Some("."),
                Some(".blue"),
                Some(".blue,black,brown"),
                Some(".R,100,G,200,B,150"),
            ],
        ),
        (
            Label,
            true,
            [
                Some("."),
                Some(".blue"),
                Some(".blue.black.brown"),
                Some(".R=100.G=200.B=150"),
            ],
        ),
        (
            Form,
            false,
            [
                Some("color="),
                Some("color=blue"),
                Some("color=blue,black,brown"),
                Some("color=R,100,G,200,B,150"),
            ],
        ),
        (
            Form,
            true,
            [
                Some("color="),
                Some("color=blue"),
                Some("color=blue&color=black&color=brown"),
                Some("R=100&G=200&B=150"),
            ],
        ),
        (
            Simple,
            false,
            [
                None,
                Some("blue"),
                Some("blue,black,brown"),
                Some("R,100,G,200,B,150"),
            ],
        ),
        (
            Simple,
            true,
            [
                None,
                Some("blue"),
                Some("blue,black,brown"),
                Some("R=100,G=200,B=150"),
            ],
        ),
        (
            SpaceDelimited,
            false,
            [
                None,
                None,
                Some("color=blue%20black%20brown"),
                Some("color=R%20100%20G%20200%20B%20150"),
            ],
        ),
        (
            PipeDelimited,
            false,
            [
                None,
                None,
                Some("color=blue|black|brown"),
                Some("color=R|100|G|200|B|150"),
            ],
        ),
        (
            DeepObject,
            true,
            [
                None,
                None,
                None,
                Some("color[R]=100&color[G]=200&color[B]=150"),
            ],
        ),
    ];

    fn values() -> [Value; 4] {
        [
            json!(""),
            json!("blue"),
            json!(["blue", "black", "brown"]),
            json!({"R": 100, "G": 200, "B": 150}),
        ]
    }

    #[test]
    fn openapi_style_examples_table() {
        for (style, explode, row) in TABLE {
            for (value, expected) in values().iter().zip(row) {
                let Some(expected) = expected else { continue };
                let got = expand(*style, *explode, "color", value, Escape::Component).join("&");
                assert_eq!(
                    &got, expected,
                    "style {style:?} explode {explode} value {value}"
                );
            }
        }
    }

    #[test]
    fn undefined_values_are_omitted_in_every_style() {
        for (style, explode, _) in TABLE {
            for v in [json!(null), json!([]), json!({})] {
                assert!(
                    expand(*style, *explode, "color", &v, Escape::Component).is_empty(),
                    "{style:?} {explode} {v}"
                );
            }
        }
    }

    #[test]
    fn primitives_render_as_json_does() {
        let e = |v: Value| expand(Form, true, "x", &v, Escape::Component).join("&");
        assert_eq!(e(json!(true)), "x=true");
        assert_eq!(e(json!(false)), "x=false");
        assert_eq!(e(json!(42)), "x=42");
        assert_eq!(e(json!(-1.5)), "x=-1.5");
        assert_eq!(e(json!(1e100)), "x=1e%2B100"); // serde_json renders `1e+100`
    }

    #[test]
    fn values_are_percent_encoded_per_rfc3986() {
        let got = expand(Form, true, "q", &json!("a b&c=d/é?#"), Escape::Component);
        assert_eq!(got, ["q=a%20b%26c%3Dd%2F%C3%A9%3F%23"]);
        let got = expand(Form, true, "q", &json!("a-b.c_d~e"), Escape::Component);
        assert_eq!(got, ["q=a-b.c_d~e"]);
    }

    #[test]
    fn allow_reserved_keeps_reserved_but_not_hash() {
        let got = expand(
            Form,
            true,
            "q",
            &json!("a/b?c=d,e#f %41 %zz"),
            Escape::Reserved,
        );
        assert_eq!(got, ["q=a/b?c=d,e%23f%20%41%20%25zz"]);
    }

    #[test]
    fn tab_delimited_joins_with_encoded_tabs() {
        let got = expand(
            TabDelimited,
            false,
            "t",
            &json!(["a", "b"]),
            Escape::Component,
        );
        assert_eq!(got, ["t=a%09b"]);
    }

    #[test]
    fn deep_object_nests_and_encodes_keys() {
        let got = expand(
            DeepObject,
            true,
            "f",
            &json!({"a b": {"c": 1}, "tags": ["x", "y"], "n": null}),
            Escape::Component,
        );
        assert_eq!(got, ["f[a%20b][c]=1", "f[tags]=x", "f[tags]=y"]);
    }

    #[test]
    fn header_style_is_unescaped() {
        let got = expand(Simple, false, "X", &json!(["a b", "c"]), Escape::Raw);
        assert_eq!(got, ["a b,c"]);
    }

    #[test]
    fn nested_values_become_json() {
        let got = expand(Form, true, "x", &json!([{"a": 1}]), Escape::Component);
        assert_eq!(got, ["x=%7B%22a%22%3A1%7D"]);
    }
}
