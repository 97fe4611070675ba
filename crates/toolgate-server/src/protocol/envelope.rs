//! Reading a JSON-RPC message just far enough to decide where it goes: the envelope, the few
//! `params` the fast path serves, and what `_meta` says, parsed in one pass without building a
//! map of the message (arguments stay a map, since the call needs them).

use serde::Deserialize;
use serde_json::Value;

/// `_meta` key naming the request's protocol revision (2026-07-28).
pub(crate) const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the client's capabilities (2026-07-28).
pub(crate) const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of a progress token: the client wants progress notifications.
const PROGRESS_TOKEN_KEY: &str = "progressToken";

/// A JSON-RPC message envelope.
#[derive(Deserialize)]
pub(crate) struct Envelope {
    pub(crate) jsonrpc: String,
    pub(crate) id: Option<Value>,
    pub(crate) method: String,
    #[serde(default, deserialize_with = "params_object")]
    pub(crate) params: Option<Params>,
}

/// `params` only as an object (derived structs also accept arrays, which rmcp refuses).
fn params_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Params>, D::Error> {
    struct Object;
    impl<'de> serde::de::Visitor<'de> for Object {
        type Value = Option<Params>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Params::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_map(Object)
}

/// The `params` members the edge reads.
#[derive(Deserialize, Default)]
pub(crate) struct Params {
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
    #[serde(rename = "_meta", default)]
    pub(crate) meta: Option<Meta>,
}

/// What the edge reads of `params._meta`: the protocol version and client capabilities (kept
/// as JSON: rmcp refuses a request whose capabilities do not decode, so "absent" and
/// "undecodable" must stay distinguishable), whether a progress token is there, and how many
/// entries it has.
#[derive(Default)]
pub(crate) struct Meta {
    pub(crate) version: Option<Value>,
    pub(crate) capabilities: Option<Value>,
    pub(crate) progress_token: bool,
    pub(crate) entries: usize,
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Meta, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Meta;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
                let mut meta = Meta::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    meta.entries += 1;
                    match key.as_ref() {
                        VERSION_KEY => meta.version = Some(map.next_value()?),
                        CAPABILITIES_KEY => meta.capabilities = Some(map.next_value()?),
                        PROGRESS_TOKEN_KEY => {
                            meta.progress_token = true;
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
        d.deserialize_map(Entries)
    }
}

impl Envelope {
    /// Parses one JSON-RPC message object (`None` for anything else, arrays included).
    pub(crate) fn parse(bytes: &[u8]) -> Option<Envelope> {
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
    pub(crate) fn meta(&self) -> Option<&Meta> {
        self.params.as_ref().and_then(|p| p.meta.as_ref())
    }

    /// Whether `_meta` names the stateless revision as the request's protocol version.
    pub(crate) fn names_modern_revision(&self) -> bool {
        self.meta()
            .and_then(|m| m.version.as_ref())
            .and_then(Value::as_str)
            == Some(super::MODERN)
    }

    /// The request a `notifications/cancelled` names.
    pub(crate) fn cancelled_request(&self) -> Option<&Value> {
        self.params.as_ref().and_then(|p| p.request_id.as_ref())
    }
}
