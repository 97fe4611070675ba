//! Request bodies: tool arguments → bytes for the operation's media type.
//!
//! This module owns encoding a body as JSON (`application/json`, `*+json`, content type kept
//! verbatim), `application/x-www-form-urlencoded` (form style, explode), `multipart/form-data`
//! (fields and files), text and binary. It does not enforce the size cap (the caller does,
//! on the encoded bytes) and does not validate arguments against the schema.
//!
//! Files (multipart file fields and binary bodies) are given as strings, either plain base64
//! (standard or URL-safe alphabet, padding optional) or a data URI
//! `data:<mime>[;name=<file name>];base64,<data>`. The part's file name is, in order: the data
//! URI's `name=` (or `filename=`) parameter, a sibling argument `<field arg>_filename` when the
//! schema does not declare such a property, else the field name. Its content type is, in
//! order: the spec's `encoding.<prop>.contentType`, the data URI's media type, else
//! `application/octet-stream`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use toolgate_openapi::ir::{Body, BodyMode, ParamStyle};

use crate::response::{essence, is_json_media_type, is_textual};
use crate::serialize::{Escape, expand, scalar_text};

/// Suffix of the sibling argument that names a multipart file part.
pub(crate) const FILENAME_SUFFIX: &str = "_filename";

/// An argument that could not be encoded: `(argument, message)`.
pub(crate) type BodyError = (String, String);

/// An encoded body ready to send.
#[derive(Debug, Clone)]
pub(crate) struct EncodedBody {
    /// The `Content-Type` header value (with the boundary for multipart).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Decoded file bytes and what the data URI said about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileData {
    pub bytes: Vec<u8>,
    pub mime: Option<String>,
    pub name: Option<String>,
}

/// Decodes a base64 string or a `data:` URI (parsed per the WHATWG Fetch standard by the
/// `data-url` crate: forgiving base64, percent-decoding, media-type parameters).
pub(crate) fn decode_file(text: &str) -> Result<FileData, String> {
    if text.starts_with("data:") {
        let url = data_url::DataUrl::process(text).map_err(|e| {
            format!("not a valid data URI ({e:?}); expected `data:<mime>;base64,...`")
        })?;
        // A data URI without a media type gets `text/plain` from the standard; the file's
        // type is then unknown rather than text.
        let header = &text["data:".len()..text.find(',').unwrap_or(text.len())];
        let declared = header.split(';').next().is_some_and(|t| t.contains('/'));
        let media = url.mime_type();
        let mime = declared.then(|| format!("{}/{}", media.type_, media.subtype));
        let name = media
            .get_parameter("name")
            .or_else(|| media.get_parameter("filename"))
            .map(|v| percent_decode_str(v).decode_utf8_lossy().into_owned());
        let (bytes, _fragment) = url
            .decode_to_vec()
            .map_err(|_| "the data URI's base64 is invalid".to_owned())?;
        return Ok(FileData { bytes, mime, name });
    }
    Ok(FileData {
        bytes: decode_base64(text)?,
        mime: None,
        name: None,
    })
}

fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(&compact) {
            return Ok(bytes);
        }
    }
    Err("expected base64 (or a `data:<mime>;base64,...` URI)".to_owned())
}

/// The body value of a call: the present properties (Properties mode) or the whole argument.
/// `None` when nothing is to be sent. Also returns `(property, argument)` pairs for naming
/// errors.
fn body_value(body: &Body, args: &Map<String, Value>) -> Option<(Value, Vec<(String, String)>)> {
    match &body.mode {
        BodyMode::Properties { fields } => {
            let mut obj = Map::new();
            let mut names = Vec::new();
            for (arg, prop) in fields {
                if let Some(v) = args.get(arg) {
                    obj.insert(prop.clone(), v.clone());
                    names.push((prop.clone(), arg.clone()));
                }
            }
            (!obj.is_empty() || body.required).then_some((Value::Object(obj), names))
        }
        BodyMode::Whole { arg } => args.get(arg).map(|v| (v.clone(), Vec::new())),
    }
}

/// Encodes the body of a call; `Ok(None)` when there is none to send.
pub(crate) fn encode(
    body: &Body,
    content_type: &str,
    args: &Map<String, Value>,
) -> Result<Option<EncodedBody>, BodyError> {
    let Some((value, names)) = body_value(body, args) else {
        return Ok(None);
    };
    let whole_arg = match &body.mode {
        BodyMode::Whole { arg } => arg.clone(),
        BodyMode::Properties { .. } => "(body)".to_owned(),
    };
    let arg_of = |prop: &str| {
        names
            .iter()
            .find(|(p, _)| p == prop)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| prop.to_owned())
    };
    let kind = essence(content_type);
    let bytes = if is_json_media_type(content_type) {
        serde_json::to_vec(&value).map_err(|e| (whole_arg.clone(), e.to_string()))?
    } else if kind == "application/x-www-form-urlencoded" {
        match &value {
            Value::Object(map) => map
                .iter()
                .flat_map(|(k, v)| expand(ParamStyle::Form, true, k, v, Escape::Component))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes(),
            Value::String(s) => s.clone().into_bytes(),
            _ => {
                return Err((
                    whole_arg,
                    "a form-urlencoded body must be an object".to_owned(),
                ));
            }
        }
    } else if kind == "multipart/form-data" {
        let Value::Object(map) = &value else {
            return Err((whole_arg, "a multipart body must be an object".to_owned()));
        };
        let boundary = format!("toolgate-{}", uuid::Uuid::new_v4().simple());
        let bytes = multipart(body, map, args, &boundary, &arg_of)?;
        return Ok(Some(EncodedBody {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            bytes,
        }));
    } else if is_textual(content_type) {
        scalar_text(&value).into_bytes()
    } else {
        match &value {
            Value::String(s) => {
                decode_file(s)
                    .map_err(|e| (whole_arg.clone(), format!("binary body ({kind}): {e}")))?
                    .bytes
            }
            _ => {
                return Err((
                    whole_arg,
                    format!("a {kind} body must be a base64 string or a data URI"),
                ));
            }
        }
    };
    Ok(Some(EncodedBody {
        content_type: content_type.to_owned(),
        bytes,
    }))
}

/// `Content-Disposition` quoting per the WHATWG multipart encoding: `"` → `%22`, CR → `%0D`,
/// LF → `%0A`.
fn quote(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn multipart(
    body: &Body,
    map: &Map<String, Value>,
    args: &Map<String, Value>,
    boundary: &str,
    arg_of: &dyn Fn(&str) -> String,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let mut part = |name: &str, filename: Option<&str>, ctype: Option<&str>, data: &[u8]| {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disp = format!("Content-Disposition: form-data; name=\"{}\"", quote(name));
        if let Some(f) = filename {
            disp.push_str(&format!("; filename=\"{}\"", quote(f)));
        }
        out.extend_from_slice(disp.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = ctype {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    };
    let part_type = |prop: &str| {
        body.part_content_types
            .iter()
            .find(|(p, _)| p == prop)
            .map(|(_, ct)| ct.clone())
    };
    for (prop, value) in map {
        let declared = part_type(prop);
        if body.file_fields.iter().any(|f| f == prop) {
            let arg = arg_of(prop);
            let sibling = args
                .get(&format!("{arg}{FILENAME_SUFFIX}"))
                .and_then(Value::as_str);
            let files: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for file in files {
                let Some(text) = file.as_str() else {
                    return Err((
                        arg,
                        "a file must be a base64 string or a data URI".to_owned(),
                    ));
                };
                let data = decode_file(text).map_err(|e| (arg.clone(), e))?;
                let filename = data.name.as_deref().or(sibling).unwrap_or(prop.as_str());
                let ctype = declared
                    .clone()
                    .or(data.mime.clone())
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                part(prop, Some(filename), Some(&ctype), &data.bytes);
            }
            continue;
        }
        match value {
            Value::Null => {}
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                for item in items {
                    part(
                        prop,
                        None,
                        declared.as_deref(),
                        scalar_text(item).as_bytes(),
                    );
                }
            }
            Value::Array(_) | Value::Object(_) => {
                let ct = declared.as_deref().unwrap_or("application/json");
                part(prop, None, Some(ct), value.to_string().as_bytes());
            }
            other => part(
                prop,
                None,
                declared.as_deref(),
                scalar_text(other).as_bytes(),
            ),
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_uris_carry_mime_and_name() {
        let f = decode_file("data:image/png;name=a%20b.png;base64,aGk=").unwrap();
        assert_eq!(f.bytes, b"hi");
        assert_eq!(f.mime.as_deref(), Some("image/png"));
        assert_eq!(f.name.as_deref(), Some("a b.png"));
        let f = decode_file("data:,hello%20world").unwrap();
        assert_eq!(f.bytes, b"hello world");
        assert_eq!(f.mime, None);
        // The standard's forgiving base64: whitespace inside, padding optional.
        let f = decode_file("data:text/csv;filename=t.csv;base64,YSxi LGM").unwrap();
        assert_eq!(f.bytes, b"a,b,c");
        assert_eq!(f.name.as_deref(), Some("t.csv"));
        assert!(decode_file("data:image/png;base64,@@@").is_err());
        assert!(decode_file("data:image/png;base64").is_err());
    }

    #[test]
    fn base64_variants_decode() {
        assert_eq!(decode_file("aGk=").unwrap().bytes, b"hi");
        assert_eq!(decode_file("aGk").unwrap().bytes, b"hi");
        assert_eq!(decode_file("-_8").unwrap().bytes, [0xfb, 0xff]);
        assert!(decode_file("not base64!").is_err());
    }

    #[test]
    fn absent_optional_body_is_not_sent() {
        let body = Body {
            content_type: "application/json".into(),
            required: false,
            mode: BodyMode::Properties {
                fields: vec![("a".into(), "a".into())],
            },
            file_fields: vec![],
            part_content_types: vec![],
        };
        let args = json!({}).as_object().unwrap().clone();
        assert!(encode(&body, "application/json", &args).unwrap().is_none());
    }
}
