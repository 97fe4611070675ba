//! Response size limits per tool: a result larger than its limit is cut at a clean boundary
//! (a line end, else a space, never inside a UTF-8 character) and ends with a marker saying
//! so, with the original size. Structured content, which cannot be cut and stay valid JSON,
//! is dropped from a cut result, as are content blocks (images, audio, embedded resources)
//! past the limit.
//!
//! The size of a result is the bytes of its parts as they go on the wire: texts, the base64
//! data of images and audio, serialized embedded resources and structured content.
//! Configured in `resilience.responses` (`max_bytes` for every tool, `tools.<name>.max_bytes`
//! for one).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate_core::{GatewayError, McpCall, McpResponse};
use tower::{Layer, Service};

use crate::cache::{CacheConfig, ToolCacheConfig};

/// Limits and caching of tool results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResponsesConfig {
    /// Largest result of any tool, in bytes (absent = no limit); `tools.<name>.max_bytes`
    /// overrides it.
    pub max_bytes: Option<usize>,
    /// Bounds of the response cache (used only by tools with a `cache` block).
    pub cache: CacheConfig,
    /// Per-tool settings, by tool name (as served in `tools/list`).
    pub tools: BTreeMap<String, ToolResponseConfig>,
}

/// The result settings of one tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolResponseConfig {
    /// Largest result of this tool, in bytes.
    pub max_bytes: Option<usize>,
    /// Cache this tool's results (read-only tools only).
    pub cache: Option<ToolCacheConfig>,
}

impl ResponsesConfig {
    /// The limit of `tool`, if any.
    pub fn max_bytes_for(&self, tool: &str) -> Option<usize> {
        self.tools
            .get(tool)
            .and_then(|t| t.max_bytes)
            .or(self.max_bytes)
    }

    /// Whether any tool has a limit.
    pub fn any_limit(&self) -> bool {
        self.max_bytes.is_some() || self.tools.values().any(|t| t.max_bytes.is_some())
    }

    /// Problems, as (path below `resilience.responses`, message) pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let tiny = |n: Option<usize>| n.is_some_and(|n| n < MIN_LIMIT);
        if tiny(self.max_bytes) {
            out.push((
                "max_bytes".to_owned(),
                format!("must be at least {MIN_LIMIT} bytes"),
            ));
        }
        for (name, t) in &self.tools {
            if tiny(t.max_bytes) {
                out.push((
                    format!("tools.{name}.max_bytes"),
                    format!("must be at least {MIN_LIMIT} bytes"),
                ));
            }
            if let Some(c) = &t.cache {
                for (field, msg) in c.problems() {
                    out.push((format!("tools.{name}.cache.{field}"), msg));
                }
            }
        }
        for (field, msg) in self.cache.problems() {
            out.push((format!("cache.{field}"), msg));
        }
        out
    }
}

/// Smallest limit accepted (the marker alone takes ~200 bytes).
pub const MIN_LIMIT: usize = 256;

/// The wire size of a content block's payload.
fn block_size(block: &ContentBlock) -> usize {
    match block {
        ContentBlock::Text(t) => t.text.len(),
        ContentBlock::Image(i) => i.data.len(),
        ContentBlock::Audio(a) => a.data.len(),
        other => serde_json::to_vec(other).map_or(0, |v| v.len()),
    }
}

/// The size of `result` as defined in the module docs.
pub fn result_size(result: &CallToolResult) -> usize {
    result.content.iter().map(block_size).sum::<usize>()
        + result
            .structured_content
            .as_ref()
            .and_then(|v| serde_json::to_vec(v).ok())
            .map_or(0, |v| v.len())
}

/// The longest prefix of `text` within `max` bytes that ends at a clean boundary: after a
/// line end if one is in the second half, else after a space, else at a character boundary.
fn clean_prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    let half = end / 2;
    if let Some(i) = head.rfind('\n').filter(|&i| i >= half) {
        return &head[..=i];
    }
    if let Some(i) = head.rfind(' ').filter(|&i| i >= half) {
        return &head[..=i];
    }
    head
}

/// Cuts `result` to `max` bytes if it is larger; returns its original size when it was cut.
pub fn cut(result: &mut CallToolResult, max: usize, tool: &str) -> Option<usize> {
    let original = result_size(result);
    if original <= max {
        return None;
    }
    result.structured_content = None;
    let mut left = max;
    let mut kept = Vec::new();
    for block in std::mem::take(&mut result.content) {
        if left == 0 {
            break;
        }
        let size = block_size(&block);
        if size <= left {
            left -= size;
            kept.push(block);
            continue;
        }
        if let ContentBlock::Text(mut t) = block {
            let prefix = clean_prefix(&t.text, left).len();
            t.text.truncate(prefix);
            left -= prefix;
            kept.push(ContentBlock::Text(t));
        }
        break;
    }
    let shown = max - left;
    kept.push(ContentBlock::text(format!(
        "\n[toolgate: this result was cut to {shown} of its {original} bytes (the limit for \
         tool `{tool}` is {max} bytes); structured content and anything after the cut were \
         dropped. Ask for less data (filters, paging, fewer fields) to get it whole.]"
    )));
    result.content = kept;
    Some(original)
}

/// Applies the size limits of a [`ResponsesConfig`].
#[derive(Clone)]
pub struct SizeLimitLayer {
    config: Arc<ResponsesConfig>,
}

impl SizeLimitLayer {
    /// A layer applying `config`'s limits.
    pub fn new(config: Arc<ResponsesConfig>) -> Self {
        SizeLimitLayer { config }
    }
}

impl<S> Layer<S> for SizeLimitLayer {
    type Service = SizeLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SizeLimitService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Service produced by [`SizeLimitLayer`].
#[derive(Clone)]
pub struct SizeLimitService<S> {
    inner: S,
    config: Arc<ResponsesConfig>,
}

impl<S> Service<McpCall> for SizeLimitService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<McpResponse, GatewayError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let limit = call.resolved.as_ref().and_then(|r| r.tool()).and_then(|t| {
            self.config
                .max_bytes_for(&t.tool.name)
                .map(|max| (max, t.tool.name.clone()))
        });
        let fut = self.inner.call(call);
        let Some((max, tool)) = limit else {
            return Box::pin(fut);
        };
        Box::pin(async move {
            let mut result = fut.await;
            if let Ok(McpResponse::ToolResult(Ok(r))) = &mut result
                && let Some(original) = cut(r, max, &tool)
            {
                tracing::info!(
                    target: "toolgate::size",
                    tool = %tool,
                    original_bytes = original,
                    max_bytes = max,
                    "result cut to the tool's size limit"
                );
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_small_result_is_untouched() {
        let mut r = CallToolResult::success(vec![ContentBlock::text("short")]);
        assert_eq!(cut(&mut r, 1_000, "t"), None);
        assert_eq!(r.content.len(), 1);
    }

    #[test]
    fn a_large_result_is_cut_at_a_line_end_with_a_marker_and_no_structured_content() {
        let lines: Vec<String> = (0..200).map(|i| format!("line {i} é")).collect();
        let text = lines.join("\n");
        let mut r = CallToolResult::structured(json!({"lines": lines}));
        r.content = vec![ContentBlock::text(text.clone())];
        let original = result_size(&r);
        assert_eq!(cut(&mut r, 500, "list"), Some(original));
        assert!(r.structured_content.is_none());
        let kept = &r.content[0].as_text().unwrap().text;
        assert!(kept.len() <= 500);
        assert!(kept.ends_with('\n'), "{kept:?}");
        assert!(text.starts_with(kept.as_str()));
        let marker = &r.content[1].as_text().unwrap().text;
        assert!(
            marker.contains(&format!("of its {original} bytes")),
            "{marker}"
        );
        assert!(marker.contains("tool `list` is 500 bytes"), "{marker}");
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "é".repeat(400);
        let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
        cut(&mut r, 301, "t").unwrap();
        let kept = &r.content[0].as_text().unwrap().text;
        assert_eq!(kept.len(), 300);
    }

    #[test]
    fn blocks_past_the_limit_are_dropped() {
        let mut r = CallToolResult::success(vec![
            ContentBlock::text("a".repeat(300)),
            ContentBlock::image("b".repeat(1_000), "image/png"),
        ]);
        cut(&mut r, 400, "t").unwrap();
        assert_eq!(r.content.len(), 2);
        assert!(r.content[1].as_text().unwrap().text.contains("cut to 300"));
    }
}
