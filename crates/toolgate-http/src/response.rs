//! Backend HTTP responses → MCP results: content by media type, size caps, status errors.
//!
//! This module owns reading a response body incrementally under a byte cap and mapping what
//! was read to a `CallToolResult` (tools), `ResourceContents` (resource reads) or a
//! `ToolError` (non-2xx). It does not send requests, retry, or decide timeouts.
//!
//! Mapping of 2xx responses:
//! - JSON (`application/json`, `*+json`) → `structuredContent` (wrapped under the operation's
//!   `output_wrap` key, or under `result` when the body is not an object) plus a text copy: an
//!   object answer's own bytes as the backend sent them, else the wrapper serialized.
//! - text (`text/*`, XML, YAML, JavaScript, …) → text.
//! - `image/*` → image content, `audio/*` → audio content (base64).
//! - other binary → an embedded resource blob carrying the media type.
//! - empty body → a one-line success message (`204 No Content: DELETE /tasks/1 succeeded`).
//!
//! Over the cap, text (and JSON when the tool has no output schema) is truncated with a
//! notice; binary content or schema-bound JSON cannot be cut meaningfully and fails with
//! `TooLarge` instead, saying which option to raise. Non-2xx responses are mapped in
//! [`status`].

mod status;

pub use status::BackendReply;
pub(crate) use status::{Presented, status_error};

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{Map, Value};
use toolgate_core::error::{ToolError, ToolErrorKind};
use toolgate_openapi::ir::Operation;

/// Longest backend body excerpt quoted in an error message.
pub(crate) const ERROR_EXCERPT_BYTES: usize = 2048;
/// Most of an error response's body read: enough for a validation error that echoes large
/// inputs (FastAPI's 422 repeats every value it rejects) to be parsed into its list.
pub(crate) const ERROR_BODY_BYTES: usize = 64 * 1024;

/// The media type without parameters, lower-cased (`Application/JSON; charset=x` →
/// `application/json`).
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `application/json`, `text/json` or any `*+json` type.
pub(crate) fn is_json_media_type(content_type: &str) -> bool {
    let e = essence(content_type);
    e == "application/json" || e == "text/json" || e.ends_with("+json")
}

/// Media types whose bodies are text a model can read.
pub(crate) fn is_textual(content_type: &str) -> bool {
    let e = essence(content_type);
    e.starts_with("text/")
        || e.ends_with("+xml")
        || e.ends_with("+yaml")
        || matches!(
            e.as_str(),
            "application/xml"
                | "application/yaml"
                | "application/x-yaml"
                | "application/javascript"
                | "application/ecmascript"
                | "application/x-ndjson"
                | "application/jsonl"
                | "application/graphql"
                | "application/sql"
                | "application/csv"
                | "application/x-www-form-urlencoded"
                | "application/problem+xml"
        )
        || content_type.to_ascii_lowercase().contains("charset=")
}

/// How a response body is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaKind {
    Json,
    Text,
    Image,
    Audio,
    Binary,
}

/// Classifies a body by its `Content-Type`, sniffing UTF-8/JSON when the header is missing.
pub(crate) fn classify(content_type: Option<&str>, body: &[u8]) -> MediaKind {
    match content_type {
        Some(ct) if is_json_media_type(ct) => MediaKind::Json,
        Some(ct) if essence(ct) == "image/svg+xml" => MediaKind::Text,
        Some(ct) if essence(ct).starts_with("image/") => MediaKind::Image,
        Some(ct) if essence(ct).starts_with("audio/") => MediaKind::Audio,
        Some(ct) if is_textual(ct) => MediaKind::Text,
        Some(ct) if !essence(ct).is_empty() => MediaKind::Binary,
        _ => match std::str::from_utf8(body) {
            Ok(text) if serde_json::from_str::<Value>(text).is_ok() => MediaKind::Json,
            Ok(_) => MediaKind::Text,
            Err(_) => MediaKind::Binary,
        },
    }
}

/// Reads at most `cap` bytes of the body, frame by frame; `true` when more was available.
/// A body that arrives in one frame (most small responses) is returned without a copy.
pub async fn read_capped<B>(body: &mut B, cap: usize) -> Result<(Bytes, bool), B::Error>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    // Invariant: while `single` holds the first chunk, `buf` is empty.
    let mut single: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        // Trailers carry nothing we map.
        let Ok(chunk) = frame?.into_data() else {
            continue;
        };
        let room = cap - single.as_ref().map_or(buf.len(), Bytes::len);
        let truncated = chunk.len() > room;
        let chunk = if truncated {
            chunk.slice(..room)
        } else {
            chunk
        };
        if single.is_none() && buf.is_empty() {
            single = Some(chunk);
        } else {
            if let Some(first) = single.take() {
                buf.extend_from_slice(&first);
            }
            buf.extend_from_slice(&chunk);
        }
        if truncated {
            return Ok((single.unwrap_or_else(|| buf.freeze()), true));
        }
    }
    Ok((single.unwrap_or_else(|| buf.freeze()), false))
}

/// A response as read from the backend.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub status: http::StatusCode,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// The body was cut at the cap.
    pub truncated: bool,
    pub retry_after: Option<Duration>,
    /// `Cache-Control` says `no-store` or `private`: caches must not keep the answer.
    pub no_store: bool,
    /// Credential values the request carried, for a non-2xx answer: never repeated from the
    /// body to the model or the log.
    pub secrets: Vec<String>,
}

/// What the mapping needs to know about the call, for messages and wrapping.
#[derive(Debug, Clone)]
pub(crate) struct CallInfo<'a> {
    pub tool: &'a str,
    pub method: &'a str,
    /// Request path without the query (never carries query secrets).
    pub path: &'a str,
    /// Request URL without the query, used as the URI of embedded blobs.
    pub uri: &'a str,
    pub output_wrap: Option<&'a str>,
    pub has_output_schema: bool,
    pub cap: usize,
    pub mask_error_details: bool,
    /// The operation (maps a validation error's locations to argument names).
    pub op: &'a Operation,
    /// Whose credentials the request carried (the hint of a 401 depends on it).
    pub credentials: Presented,
}

/// Text of `bytes` cut back to a UTF-8 boundary (a cap may split a character).
fn utf8_prefix(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn too_large(info: &CallInfo<'_>, what: &str) -> ToolError {
    ToolError::new(
        ToolErrorKind::TooLarge,
        format!(
            "the {what} response of {} {} (tool `{}`) exceeds max_response_body_bytes ({} bytes); \
             narrow the request (filters, pagination) or raise `max_response_body_bytes` in the \
             source options",
            info.method, info.path, info.tool, info.cap
        ),
    )
}

fn truncation_notice(info: &CallInfo<'_>) -> String {
    format!(
        "\n\n[truncated: the response exceeded max_response_body_bytes ({} bytes) and was cut; \
         narrow the request (filters, pagination) to see the rest]",
        info.cap
    )
}

/// Maps a 2xx response to a tool result.
pub(crate) fn success_result(
    info: &CallInfo<'_>,
    r: &Received,
) -> Result<CallToolResult, ToolError> {
    if r.body.is_empty() {
        let reason = r.status.canonical_reason().unwrap_or("");
        let suffix = if r.status == http::StatusCode::NO_CONTENT {
            ""
        } else {
            " (empty response body)"
        };
        return Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{} {reason}: {} {} succeeded{suffix}",
            r.status.as_u16(),
            info.method,
            info.path
        ))]));
    }
    // Only media answers need the media type as a string.
    let mime = || {
        r.content_type
            .as_deref()
            .map(essence)
            .filter(|e| !e.is_empty())
    };
    match classify(r.content_type.as_deref(), &r.body) {
        MediaKind::Json if !r.truncated => match serde_json::from_slice::<Value>(&r.body) {
            Ok(value) => {
                // An object answer is its own text copy, byte for byte as the backend sent
                // it (numbers keep every digit; no second serialization); a wrapped one is
                // serialized. The body parsed as JSON, so it is UTF-8.
                let (structured, text) = match (info.output_wrap, value) {
                    (None, object @ Value::Object(_)) => (
                        object,
                        String::from_utf8_lossy(r.body.trim_ascii()).into_owned(),
                    ),
                    (key, v) => {
                        let key = key.unwrap_or("result").to_owned();
                        let structured = Value::Object(Map::from_iter([(key, v)]));
                        let text = structured.to_string();
                        (structured, text)
                    }
                };
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = Some(structured);
                Ok(result)
            }
            // Declared JSON that does not parse: show it as text rather than failing.
            Err(_) => Ok(CallToolResult::success(vec![ContentBlock::text(
                utf8_prefix(&r.body),
            )])),
        },
        MediaKind::Json if info.has_output_schema => Err(too_large(info, "JSON")),
        MediaKind::Json | MediaKind::Text => {
            let mut text = utf8_prefix(&r.body);
            if r.truncated {
                text.push_str(&truncation_notice(info));
            }
            Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
        }
        _ if r.truncated => Err(too_large(info, mime().as_deref().unwrap_or("binary"))),
        MediaKind::Image => Ok(CallToolResult::success(vec![ContentBlock::image(
            BASE64.encode(&r.body),
            mime().unwrap_or_default(),
        )])),
        MediaKind::Audio => Ok(CallToolResult::success(vec![ContentBlock::audio(
            BASE64.encode(&r.body),
            mime().unwrap_or_default(),
        )])),
        MediaKind::Binary => Ok(CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::BlobResourceContents {
                uri: info.uri.to_owned(),
                mime_type: Some(mime().unwrap_or_else(|| "application/octet-stream".to_owned())),
                blob: BASE64.encode(&r.body),
                meta: None,
            },
        )])),
    }
}

/// Maps a 2xx response to the contents of a resource read at `uri`.
pub(crate) fn resource_contents(
    info: &CallInfo<'_>,
    uri: &str,
    r: &Received,
) -> Result<Vec<ResourceContents>, ToolError> {
    let mime = r
        .content_type
        .as_deref()
        .map(essence)
        .filter(|e| !e.is_empty());
    let text = |text: String, mime: String| ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some(mime),
        text,
        meta: None,
    };
    match classify(r.content_type.as_deref(), &r.body) {
        MediaKind::Text => {
            let mut body = utf8_prefix(&r.body);
            if r.truncated {
                body.push_str(&truncation_notice(info));
            }
            Ok(vec![text(
                body,
                mime.unwrap_or_else(|| "text/plain".to_owned()),
            )])
        }
        kind if r.truncated => Err(too_large(
            info,
            if kind == MediaKind::Json {
                "JSON"
            } else {
                "binary"
            },
        )),
        MediaKind::Json => Ok(vec![text(
            utf8_prefix(&r.body),
            "application/json".to_owned(),
        )]),
        MediaKind::Image | MediaKind::Audio | MediaKind::Binary => {
            Ok(vec![ResourceContents::BlobResourceContents {
                uri: uri.to_owned(),
                mime_type: Some(mime.unwrap_or_else(|| "application/octet-stream".to_owned())),
                blob: BASE64.encode(&r.body),
                meta: None,
            }])
        }
    }
}

/// Parses `Retry-After` (delay seconds or an HTTP date) into a delay from `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_media_types() {
        assert_eq!(classify(Some("application/json"), b"{}"), MediaKind::Json);
        assert_eq!(
            classify(Some("application/problem+json; charset=utf-8"), b"{}"),
            MediaKind::Json
        );
        assert_eq!(classify(Some("text/csv"), b"a,b"), MediaKind::Text);
        assert_eq!(classify(Some("application/xml"), b"<a/>"), MediaKind::Text);
        assert_eq!(
            classify(Some("application/x-yaml"), b"a: 1"),
            MediaKind::Text
        );
        assert_eq!(classify(Some("image/png"), b"\x89PNG"), MediaKind::Image);
        assert_eq!(classify(Some("audio/wav"), b"RIFF"), MediaKind::Audio);
        assert_eq!(
            classify(Some("application/pdf"), b"%PDF"),
            MediaKind::Binary
        );
        assert_eq!(classify(None, b"[1]"), MediaKind::Json);
        assert_eq!(classify(None, b"hello"), MediaKind::Text);
        assert_eq!(classify(None, b"\xff\xfe"), MediaKind::Binary);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[tokio::test]
    async fn read_capped_cuts_at_the_cap_across_frames() {
        fn body(
            chunks: &[&'static str],
        ) -> impl http_body::Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
            let frames: Vec<_> = chunks
                .iter()
                .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes()))))
                .collect();
            http_body_util::StreamBody::new(futures::stream::iter(frames))
        }
        let read = |chunks: &'static [&'static str], cap| async move {
            read_capped(&mut body(chunks), cap).await.unwrap()
        };
        assert_eq!(read(&["abc"], 3).await, (Bytes::from("abc"), false));
        assert_eq!(
            read(&["ab", "cd", "ef"], 10).await,
            (Bytes::from("abcdef"), false)
        );
        assert_eq!(
            read(&["ab", "cd", "ef"], 3).await,
            (Bytes::from("abc"), true)
        );
        assert_eq!(read(&["abcd"], 2).await, (Bytes::from("ab"), true));
        assert_eq!(read(&["ab", "", "c"], 2).await, (Bytes::from("ab"), true));
        assert_eq!(read(&["ab", ""], 2).await, (Bytes::from("ab"), false));
        assert_eq!(read(&[], 2).await, (Bytes::new(), false));
    }

    #[test]
    fn utf8_cut_never_splits_a_character() {
        assert_eq!(utf8_prefix("aé".as_bytes()[..2].as_ref()), "a");
    }
}
