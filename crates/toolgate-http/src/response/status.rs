//! Non-2xx responses → a `BackendStatus` [`ToolError`] the model can act on.
//!
//! This module owns the text of a backend status error: what the API said (its `detail`, a
//! FastAPI 422's per-argument list, or a body excerpt, unless `mask_error_details`), one hint
//! per status class written for the model, and the bounded summary kept for the log as the
//! error's cause. `toolgate_core::wire` adds no hint of its own to these errors (it appends
//! `Retry after N s.` when the backend sent `Retry-After`), so no sentence appears twice.
//!
//! **What reaches the log.** The client text carries up to [`super::ERROR_EXCERPT_BYTES`] of
//! the backend's body. The cause ([`BackendReply`]) carries the status and at most
//! [`LOG_SUMMARY_CHARS`] characters of what the API said, control characters escaped, and
//! for validation errors only the locations and messages (never FastAPI's `input`, the value
//! sent). A log should print the cause, not the message (see `toolgate_core::wire::tool_error_log`).

use serde_json::{Map, Value};
use toolgate_core::error::{ToolError, ToolErrorKind};
use toolgate_openapi::ir::{BodyMode, Operation, ParamLocation};

use super::{CallInfo, ERROR_EXCERPT_BYTES, Received, utf8_prefix};

/// Longest summary of a backend answer kept for the log.
pub(crate) const LOG_SUMMARY_CHARS: usize = 256;
/// Most validation problems listed from one answer.
const MAX_LISTED: usize = 20;

/// Whose credentials a 401 refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented {
    /// The client's own `Authorization` header is forwarded (`forward_authorization`);
    /// `present` says whether this call had one.
    Forwarded { present: bool },
    /// The gateway sends credentials configured for the source (`auth`, or an
    /// `Authorization` in `headers`).
    Configured,
    /// The gateway sends no credentials to this operation.
    Missing,
}

/// The backend's answer as the log sees it: the status and a bounded, sanitized summary.
#[derive(Debug, Clone, thiserror::Error)]
#[error("backend answered {status}{}", summary_suffix(.summary))]
pub struct BackendReply {
    /// The HTTP status.
    pub status: u16,
    /// What the API said, at most 256 characters (`LOG_SUMMARY_CHARS`), control characters
    /// escaped; empty when the body was empty.
    pub summary: String,
}

fn summary_suffix(summary: &str) -> String {
    if summary.is_empty() {
        String::new()
    } else {
        format!(": {summary}")
    }
}

/// What the body says, as shown to the model.
enum Said {
    /// Nothing (empty body).
    Nothing,
    /// A validation error listing problems per argument (FastAPI's 422).
    Problems(Vec<(String, String)>),
    /// The API's own explanation (`detail`, `message`, a problem's `title`/`detail`, …).
    Reason(String),
    /// A raw excerpt; `true` when cut.
    Excerpt(String, bool),
}

/// Maps a non-2xx response to a `BackendStatus` error: status, operation, what the API said,
/// and the hint for the status class; retryable for 408/429/502/503/504.
/// `text` with every credential value the request carried replaced by `[redacted]` (a backend
/// that echoes the request in its error page must not hand them on).
fn redact_echoed(text: String, secrets: &[String]) -> String {
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return text;
    }
    secrets
        .iter()
        .fold(text, |t, s| t.replace(s.as_str(), "[redacted]"))
}

pub(crate) fn status_error(info: &CallInfo<'_>, r: &Received) -> ToolError {
    let code = r.status.as_u16();
    let reason = r.status.canonical_reason().unwrap_or("");
    let said = what_it_said(r, info.op);
    let mut message = format!(
        "backend returned {code} {reason} for {} {} (tool `{}`)",
        info.method, info.path, info.tool
    );
    if info.mask_error_details {
        message.push_str(" [response body hidden by mask_error_details]");
    } else {
        match &said {
            Said::Nothing => {}
            Said::Problems(problems) => {
                message.push_str("; the API rejected these arguments:");
                for (at, msg) in problems {
                    message.push_str(&format!("\n- {at}: {msg}"));
                }
            }
            Said::Reason(text) => message.push_str(&format!(": {text}")),
            Said::Excerpt(text, more) => {
                message.push_str(&format!(": {text}{}", if *more { " …" } else { "" }))
            }
        }
    }
    let mut message = redact_echoed(message, &r.secrets);
    message.push('\n');
    message.push_str(hint(code, info.credentials));
    let summary = match &said {
        Said::Nothing => String::new(),
        Said::Problems(problems) => problems
            .iter()
            .map(|(at, msg)| format!("{at}: {msg}"))
            .collect::<Vec<_>>()
            .join("; "),
        Said::Reason(text) | Said::Excerpt(text, _) => text.clone(),
    };
    let summary = redact_echoed(summary, &r.secrets);
    let mut err = ToolError::new(ToolErrorKind::BackendStatus, message)
        .with_status(code)
        .with_cause(BackendReply {
            status: code,
            summary: sanitize_for_log(&summary),
        });
    err.retry_after = r.retry_after;
    err
}

/// The one hint of a status class, for the model.
fn hint(code: u16, credentials: Presented) -> &'static str {
    match code {
        400 | 422 => "Fix the arguments against the tool's input schema and call the tool again.",
        401 => match credentials {
            Presented::Forwarded { present: true } => {
                "The API refused the caller's own credentials, which the gateway forwards: the \
                 caller must sign in again or present a token this API accepts; calling again \
                 unchanged fails the same way."
            }
            Presented::Forwarded { present: false } => {
                "The API requires credentials and this request carried none for the gateway to \
                 forward: the caller must send an Authorization header."
            }
            Presented::Configured => {
                "The API refused the credentials the gateway is configured with for this \
                 source: an operator must fix the source's `auth` settings; do not retry."
            }
            Presented::Missing => {
                "The API requires credentials and the gateway has none configured for this \
                 source: an operator must add `auth` to the source; do not retry."
            }
        },
        403 => {
            "The API refused this action for this caller (a permission or business rule); do not \
             retry it unchanged."
        }
        404 | 410 => {
            "What the arguments name does not exist; check the identifiers in the arguments, or \
             look them up with another tool first."
        }
        405 => {
            "The API does not allow this method on this path (its description may be out of \
             date); do not retry."
        }
        408 => "The API gave up waiting for the request; you may call again.",
        409 | 412 | 428 => {
            "The request conflicts with the current state of the resource (it may already exist \
             or have changed since it was read); read its current state, then decide whether to \
             call again with updated arguments."
        }
        413 => "The request is too large for the API; send less data per call.",
        429 => "The API is limiting the rate of calls; wait before calling again.",
        501 => "The API does not implement this operation.",
        502..=504 => "The API is temporarily unavailable; call again later.",
        500..=599 => {
            "The API failed while handling the request (a server-side error, not caused by the \
             arguments)."
        }
        300..=399 => {
            "The API redirected to another origin, which the gateway does not follow so that \
             credentials cannot leak; an operator must point the source's base URL at the final \
             location."
        }
        400..=499 => "The API rejected the request; calling again unchanged fails the same way.",
        _ => "The API answered with an unexpected status.",
    }
}

/// What the body says, in the most readable form available.
fn what_it_said(r: &Received, op: &Operation) -> Said {
    if r.body.is_empty() {
        return Said::Nothing;
    }
    if !r.truncated
        && let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&r.body)
    {
        if let Some(problems) = fastapi_problems(&body, op) {
            return Said::Problems(problems);
        }
        if let Some(reason) = stated_reason(&body) {
            return Said::Reason(reason);
        }
    }
    let excerpt = utf8_prefix(&r.body[..r.body.len().min(ERROR_EXCERPT_BYTES)]);
    let more = r.truncated || r.body.len() > ERROR_EXCERPT_BYTES;
    Said::Excerpt(excerpt.trim_end().to_owned(), more)
}

/// FastAPI's (pydantic's) validation error: `{"detail": [{"loc": [...], "msg": ...}, ...]}`,
/// each location mapped to the argument it came from.
fn fastapi_problems(body: &Map<String, Value>, op: &Operation) -> Option<Vec<(String, String)>> {
    if body.len() != 1 {
        return None;
    }
    let items = body.get("detail")?.as_array()?;
    if items.is_empty() {
        return None;
    }
    let mut problems = Vec::new();
    for item in items {
        let loc = item.get("loc")?.as_array()?;
        let msg = item.get("msg")?.as_str()?;
        if problems.len() == MAX_LISTED {
            problems.push((
                "…".to_owned(),
                format!("{} more problems", items.len() - MAX_LISTED),
            ));
            break;
        }
        problems.push((argument_at(loc, op), msg.to_owned()));
    }
    Some(problems)
}

/// The JSON pointer into the tool's arguments of a FastAPI location (`["query", "limit"]`,
/// `["body", "items", 0, "name"]`), or the location as the API wrote it when it names no
/// argument of this operation.
fn argument_at(loc: &[Value], op: &Operation) -> String {
    let seg = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let pointer = |arg: &str, rest: &[Value]| {
        let mut p = format!("/{}", escape(arg));
        for v in rest {
            p.push('/');
            p.push_str(&escape(&seg(v)));
        }
        p
    };
    let where_ = loc.first().and_then(Value::as_str);
    let name = loc.get(1).and_then(Value::as_str);
    let location = match where_ {
        Some("path") => Some(ParamLocation::Path),
        Some("query") => Some(ParamLocation::Query),
        Some("header") => Some(ParamLocation::Header),
        Some("cookie") => Some(ParamLocation::Cookie),
        _ => None,
    };
    if let (Some(location), Some(name)) = (location, name)
        && let Some(p) = op
            .params
            .iter()
            .find(|p| p.location == location && p.name.eq_ignore_ascii_case(name))
    {
        return pointer(&p.arg, &loc[2..]);
    }
    if where_ == Some("body")
        && let Some(body) = &op.body
    {
        match &body.mode {
            BodyMode::Whole { arg } => return pointer(arg, &loc[1..]),
            BodyMode::Properties { fields } => match name {
                Some(name) => {
                    if let Some((arg, _)) = fields.iter().find(|(_, prop)| prop == name) {
                        return pointer(arg, &loc[2..]);
                    }
                }
                // The body as a whole (e.g. missing): the arguments object.
                None if loc.len() == 1 => return "(arguments)".to_owned(),
                None => {}
            },
        }
    }
    let dotted: Vec<String> = loc.iter().map(seg).collect();
    format!("{} (as the API names it)", dotted.join("."))
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The API's own one-line explanation, when the body is one of the common error shapes and
/// says nothing else: FastAPI's `{"detail": "..."}`, RFC 9457 problem details
/// (`title`/`detail`), `{"message": ...}`, `{"error": ...}` (a string, or an object with a
/// `message`), OAuth's `error_description`.
fn stated_reason(body: &Map<String, Value>) -> Option<String> {
    const KNOWN: &[&str] = &[
        "detail",
        "title",
        "status",
        "type",
        "instance",
        "message",
        "error",
        "error_description",
        "code",
    ];
    if body.keys().any(|k| !KNOWN.contains(&k.as_str())) {
        return None;
    }
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let error = match body.get("error") {
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Object(e)) => e
            .get("message")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_owned()),
        _ => None,
    }
    .filter(|s| !s.is_empty());
    let reason = match (text("title"), text("detail")) {
        (Some(title), Some(detail)) if !detail.contains(title) => format!("{title}: {detail}"),
        (_, Some(detail)) => detail.to_owned(),
        (Some(title), None) => title.to_owned(),
        (None, None) => match (text("message"), error, text("error_description")) {
            (Some(m), _, _) => m.to_owned(),
            (None, Some(e), Some(d)) => format!("{e}: {d}"),
            (None, Some(e), None) => e,
            (None, None, Some(d)) => d.to_owned(),
            (None, None, None) => return None,
        },
    };
    Some(reason)
}

/// At most [`LOG_SUMMARY_CHARS`] characters, control characters (line breaks included)
/// escaped so one log line stays one line.
fn sanitize_for_log(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == LOG_SUMMARY_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn common_error_shapes_yield_their_reason() {
        let r = |v| stated_reason(&obj(v));
        assert_eq!(
            r(json!({"detail": "Super users are not allowed to delete themselves"})).as_deref(),
            Some("Super users are not allowed to delete themselves")
        );
        assert_eq!(
            r(
                json!({"type": "about:blank", "title": "Out of credit", "status": 403,
                     "detail": "Your balance is 30, but that costs 50."})
            )
            .as_deref(),
            Some("Out of credit: Your balance is 30, but that costs 50.")
        );
        assert_eq!(
            r(json!({"error": {"message": "quota exceeded"}})).as_deref(),
            Some("quota exceeded")
        );
        assert_eq!(
            r(json!({"error": "invalid_grant", "error_description": "expired"})).as_deref(),
            Some("invalid_grant: expired")
        );
        // Anything else in the body: shown raw rather than dropped.
        assert_eq!(r(json!({"detail": "x", "required_scope": "w"})), None);
        assert_eq!(r(json!({"detail": ["not a string"]})), None);
    }

    #[test]
    fn log_summaries_are_one_bounded_line() {
        let s = sanitize_for_log(&format!("a\nb\u{1b}[31m{}", "x".repeat(1000)));
        assert!(s.starts_with("a\\nb\\u{1b}[31m"), "{s}");
        assert!(s.ends_with("x…"), "{s}");
        assert!(s.chars().count() < LOG_SUMMARY_CHARS + 8, "{s}");
        assert!(!s.contains('\n') && !s.contains('\u{1b}'));
    }
}
