//! What the gateway declares to a 2026-07-28 server in one request: its client capabilities.
//!
//! A 2026-07-28 request carries the client's capabilities in its own `_meta`, and a server
//! "MUST NOT rely on capabilities the client did not declare in that request": so each
//! request can say what its caller can do. The gateway declares, per request, the features of
//! the connection's declaration (`client_capabilities` under `session: shared`, the client's
//! own under `per_client`) that the calling client declared too, with the client's settings
//! (e.g. `elicitation: {url: {}}`): the client is the one that answers a server's request for
//! them. A server then asks a client for nothing it cannot give, and offers it what it can
//! (a server may shape a call by the caller's capabilities). Without a calling client
//! (discovery) or when its capabilities are unknown, the connection's declaration stands.
//!
//! 2025-11-25 servers read capabilities once, at `initialize`; nothing here applies to them.
//! Does not own: the request's other `_meta` entries (`upstream/lean/`, rmcp's client).

use rmcp::model::{
    ClientCapabilities, ElicitationCapability, ExperimentalCapabilities, ExtensionCapabilities,
    RootsCapabilities, SamplingCapability,
};
use serde::Serialize;

/// The capabilities one request declares, borrowed from the connection's and the client's
/// declarations. Serializes as [`ClientCapabilities`] does, field for field and in its order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Declared<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    experimental: Option<&'a ExperimentalCapabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a ExtensionCapabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roots: Option<&'a RootsCapabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sampling: Option<&'a SamplingCapability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elicitation: Option<&'a ElicitationCapability>,
}

impl<'a> Declared<'a> {
    /// The declaration of a request of a client that declared `client`, on a connection
    /// that declared `connection` (module docs).
    pub(crate) fn per_request(
        connection: &'a ClientCapabilities,
        client: Option<&'a ClientCapabilities>,
    ) -> Self {
        let Some(client) = client else {
            return Declared::all_of(connection);
        };
        fn both<'a, T>(connection: &Option<T>, client: &'a Option<T>) -> Option<&'a T> {
            connection.as_ref().and(client.as_ref())
        }
        Declared {
            experimental: both(&connection.experimental, &client.experimental),
            extensions: both(&connection.extensions, &client.extensions),
            roots: both(&connection.roots, &client.roots),
            sampling: both(&connection.sampling, &client.sampling),
            elicitation: both(&connection.elicitation, &client.elicitation),
        }
    }

    fn all_of(c: &'a ClientCapabilities) -> Self {
        Declared {
            experimental: c.experimental.as_ref(),
            extensions: c.extensions.as_ref(),
            roots: c.roots.as_ref(),
            sampling: c.sampling.as_ref(),
            elicitation: c.elicitation.as_ref(),
        }
    }

    /// As rmcp's type, for a request rmcp's client sends.
    pub(crate) fn to_capabilities(self) -> ClientCapabilities {
        let mut c = ClientCapabilities::default();
        c.experimental = self.experimental.cloned();
        c.extensions = self.extensions.cloned();
        c.roots = self.roots.cloned();
        c.sampling = self.sampling.cloned();
        c.elicitation = self.elicitation.cloned();
        c
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn caps(v: Value) -> ClientCapabilities {
        serde_json::from_value(v).unwrap()
    }

    fn declared(connection: &ClientCapabilities, client: Option<&ClientCapabilities>) -> Value {
        let d = Declared::per_request(connection, client);
        let value = serde_json::to_value(d).unwrap();
        // The borrowed view and rmcp's type serialize alike.
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            serde_json::to_string(&d.to_capabilities()).unwrap()
        );
        value
    }

    #[test]
    fn a_request_declares_what_both_the_connection_and_its_client_declared() {
        let shared = caps(json!({"roots": {}, "sampling": {}, "elicitation": {}}));
        // The client's own settings of a feature are what is declared.
        let client = caps(json!({
            "elicitation": {"url": {}}, "roots": {"listChanged": true},
            "experimental": {"x": {}}, "extensions": {"io.modelcontextprotocol/tasks": {}}
        }));
        assert_eq!(
            declared(&shared, Some(&client)),
            json!({"roots": {"listChanged": true}, "elicitation": {"url": {}}})
        );
        assert_eq!(declared(&shared, Some(&caps(json!({})))), json!({}));
    }

    #[test]
    fn a_feature_the_connection_leaves_out_is_not_declared_whatever_the_client_says() {
        let no_sampling = caps(json!({"roots": {}, "elicitation": {}}));
        let client = caps(json!({"sampling": {"tools": {}}, "roots": {}}));
        assert_eq!(declared(&no_sampling, Some(&client)), json!({"roots": {}}));
    }

    #[test]
    fn without_a_client_the_connection_s_declaration_stands() {
        let per_client = caps(json!({
            "sampling": {}, "experimental": {"x": {}}, "extensions": {"e": {}}
        }));
        assert_eq!(
            declared(&per_client, None),
            json!({"sampling": {}, "experimental": {"x": {}}, "extensions": {"e": {}}})
        );
        // A per_client connection declared its client's own: the same again per request.
        assert_eq!(
            declared(&per_client, Some(&per_client)),
            declared(&per_client, None)
        );
    }
}
