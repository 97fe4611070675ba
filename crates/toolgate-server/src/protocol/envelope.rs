//! Reading a JSON-RPC message just far enough to decide where it goes: the envelope, the few
//! `params` the fast path serves, and what `_meta` says, parsed in one pass without building a
//! map of the message (arguments stay a map, since the call needs them) and borrowing its
//! strings from the message where they need no unescaping.

use std::borrow::Cow;

use rmcp::model::{ClientCapabilities, InputResponses};
use serde::Deserialize;
use serde_json::Value;

/// `_meta` key naming the request's protocol revision (2026-07-28).
pub(crate) const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the client's capabilities (2026-07-28).
pub(crate) const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of a progress token: the client wants progress notifications.
const PROGRESS_TOKEN_KEY: &str = "progressToken";
/// `_meta` key of the log level a 2026-07-28 request wants messages at (SEP-2575).
const LOG_LEVEL_KEY: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` keys of the W3C trace context (SEP-414).
const TRACEPARENT_KEY: &str = "traceparent";
const TRACESTATE_KEY: &str = "tracestate";

/// A JSON-RPC message envelope.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow)]
    pub(crate) jsonrpc: Cow<'a, str>,
    pub(crate) id: Option<Value>,
    #[serde(borrow)]
    pub(crate) method: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "params_object")]
    pub(crate) params: Option<Params<'a>>,
}

/// `params` only as an object (derived structs also accept arrays, which rmcp refuses).
fn params_object<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Params<'a>>, D::Error> {
    struct Object<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for Object<'a> {
        type Value = Option<Params<'a>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Params::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_map(Object(std::marker::PhantomData))
}

/// The `params` members the edge reads.
#[derive(Deserialize, Default)]
pub(crate) struct Params<'a> {
    /// `tools/call`: the tool.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// `tools/call`: the arguments.
    #[serde(default)]
    pub(crate) arguments: Option<Value>,
    /// Listings: the page cursor.
    #[serde(default)]
    pub(crate) cursor: Option<String>,
    /// `notifications/cancelled`: the request it cancels.
    #[serde(rename = "requestId", default)]
    pub(crate) request_id: Option<Value>,
    /// `tools/call` retrying one answered `input_required` (2026-07-28 MRTR): the client's
    /// answers, decoded as rmcp decodes them.
    #[serde(rename = "inputResponses", default)]
    pub(crate) input_responses: Option<InputResponses>,
    /// The `requestState` the retry echoes.
    #[serde(rename = "requestState", default)]
    pub(crate) request_state: Option<String>,
    #[serde(rename = "_meta", default, borrow)]
    pub(crate) meta: Option<Meta<'a>>,
}

/// What the edge reads of `params._meta`: the protocol version (a string, borrowed), the
/// client capabilities decoded as rmcp decodes them, whether a progress token or a log level
/// is there, and how many entries it has. A version that is not a string or capabilities that do not decode
/// make the whole message unreadable here, so it goes to rmcp, which refuses it.
#[derive(Default)]
pub(crate) struct Meta<'a> {
    pub(crate) version: Option<Cow<'a, str>>,
    pub(crate) capabilities: Option<ClientCapabilities>,
    pub(crate) progress_token: bool,
    /// Whether a 2026-07-28 log level is there (whatever its value): the request may then be
    /// owed log messages.
    pub(crate) log_level: bool,
    pub(crate) entries: usize,
    /// The W3C trace context (SEP-414), when it is given as strings.
    pub(crate) traceparent: Option<Cow<'a, str>>,
    pub(crate) tracestate: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Meta<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Meta<'a>, D::Error> {
        struct Entries<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Entries<'a> {
            type Value = Meta<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Meta<'a>, A::Error> {
                let mut meta = Meta::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    meta.entries += 1;
                    match key.as_ref() {
                        VERSION_KEY => meta.version = Some(map.next_value::<BorrowedStr<'a>>()?.0),
                        CAPABILITIES_KEY => meta.capabilities = Some(map.next_value()?),
                        TRACEPARENT_KEY | TRACESTATE_KEY => {
                            // Anything but a string is not a trace context: ignored.
                            let value = match map.next_value::<Value>()? {
                                Value::String(s) => Some(Cow::Owned(s)),
                                _ => None,
                            };
                            if key.as_ref() == TRACEPARENT_KEY {
                                meta.traceparent = value;
                            } else {
                                meta.tracestate = value;
                            }
                        }
                        PROGRESS_TOKEN_KEY => {
                            meta.progress_token = true;
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                        LOG_LEVEL_KEY => {
                            meta.log_level = true;
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(meta)
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// A string borrowed from the input when it needs no unescaping.
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wrap<'b>(#[serde(borrow)] Cow<'b, str>);
        Wrap::deserialize(d).map(|w| BorrowedStr(w.0))
    }
}

impl<'a> Envelope<'a> {
    /// The W3C trace context of `params._meta`, if it has a valid one.
    pub(crate) fn trace_context(&self) -> Option<toolgate_core::trace::SpanContext> {
        let meta = self.meta()?;
        toolgate_core::trace::parse(meta.traceparent.as_deref()?, meta.tracestate.as_deref())
    }

    /// Parses one JSON-RPC message object (`None` for anything else, arrays included).
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<Envelope<'a>> {
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    /// The JSON-RPC method.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }

    /// `_meta`, if the message has one.
    pub(crate) fn meta(&self) -> Option<&Meta<'a>> {
        self.params.as_ref().and_then(|p| p.meta.as_ref())
    }

    /// Whether `_meta` names the stateless revision as the request's protocol version.
    pub(crate) fn names_modern_revision(&self) -> bool {
        self.meta().and_then(|m| m.version.as_deref()) == Some(super::MODERN)
    }

    /// The request a `notifications/cancelled` names.
    pub(crate) fn cancelled_request(&self) -> Option<&Value> {
        self.params.as_ref().and_then(|p| p.request_id.as_ref())
    }
}
