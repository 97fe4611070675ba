//! The stdin side of a stdio upstream: rmcp's JSON-RPC codec, but a first `tools/call` is
//! written directly from rmcp's types (the same bytes, without the round trip of its params
//! through a `serde_json::Value`). Does not own: the transport around it (`mod.rs`).

use std::borrow::Cow;
use std::io::Write as _;

use rmcp::model::{
    CallToolRequest, ClientJsonRpcMessage, ClientRequest, Extensions, JsonObject, JsonRpcMessage,
    JsonRpcRequest, MetaObject, RequestMetaObject,
};
use rmcp::transport::async_rw::{JsonRpcMessageCodec, JsonRpcMessageCodecError};
use tokio_util::bytes::{BufMut as _, BytesMut};
use tokio_util::codec::Encoder;

/// Encodes what the gateway sends as rmcp's codec does (the JSON, then `\n`), writing a first
/// `tools/call` directly: rmcp serializes a request's params into a `serde_json::Value`, takes
/// `_meta` out of it, and serializes the map again, a third of the instructions of a call's
/// way out. Each part (`jsonrpc`, `id`, `method`, `_meta`, `name`, `arguments`) is serialized
/// by serde as rmcp's types do, in rmcp's order, so the bytes are the same (tests compare
/// them); a call with params `_meta`, `inputResponses` or `requestState` (whose order or
/// number formatting the `Value` round trip may change) goes through rmcp's codec.
#[derive(Default)]
pub(super) struct ClientCodec(JsonRpcMessageCodec<ClientJsonRpcMessage>);

impl Encoder<ClientJsonRpcMessage> for ClientCodec {
    type Error = JsonRpcMessageCodecError;

    fn encode(
        &mut self,
        item: ClientJsonRpcMessage,
        buf: &mut BytesMut,
    ) -> Result<(), JsonRpcMessageCodecError> {
        if let Some((r, call)) = direct_call(&item) {
            let mut w = buf.writer();
            w.write_all(b"{\"jsonrpc\":")?;
            serde_json::to_writer(&mut w, &r.jsonrpc)?;
            w.write_all(b",\"id\":")?;
            serde_json::to_writer(&mut w, &r.id)?;
            w.write_all(b",\"method\":")?;
            serde_json::to_writer(&mut w, &call.method)?;
            w.write_all(b",\"params\":{")?;
            if let Some(meta) = request_meta(&call.extensions) {
                w.write_all(b"\"_meta\":")?;
                serde_json::to_writer(&mut w, &*meta)?;
                w.write_all(b",")?;
            }
            w.write_all(b"\"name\":")?;
            serde_json::to_writer(&mut w, &call.params.name)?;
            if let Some(arguments) = &call.params.arguments {
                w.write_all(b",\"arguments\":")?;
                serde_json::to_writer(&mut w, arguments)?;
            }
            w.write_all(b"}}\n")?;
            return Ok(());
        }
        self.0.encode(item, buf)
    }
}

/// The request and its `tools/call` when `message` is a call [`ClientCodec`] writes itself.
pub(super) fn direct_call(
    message: &ClientJsonRpcMessage,
) -> Option<(&JsonRpcRequest<ClientRequest>, &CallToolRequest)> {
    if let JsonRpcMessage::Request(r) = message
        && let ClientRequest::CallToolRequest(call) = &r.request
        && call.params.meta.is_none()
        && call.params.input_responses.is_none()
        && call.params.request_state.is_none()
    {
        return Some((r, call));
    }
    None
}

/// A request's `_meta` as rmcp serializes it: the typed one, over the legacy one if both are
/// in the extensions (rmcp's `request_meta`).
fn request_meta(extensions: &Extensions) -> Option<Cow<'_, JsonObject>> {
    let typed = extensions.get::<RequestMetaObject>().map(|meta| &meta.0.0);
    let legacy = extensions.get::<MetaObject>().map(|meta| &meta.0);
    match (typed, legacy) {
        (Some(typed), None) => Some(Cow::Borrowed(typed)),
        (None, Some(legacy)) => Some(Cow::Borrowed(legacy)),
        (Some(typed), Some(legacy)) => {
            let mut merged = legacy.clone();
            merged.extend(typed.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(Cow::Owned(merged))
        }
        (None, None) => None,
    }
}
