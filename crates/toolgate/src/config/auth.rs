//! The `auth` section: inbound authentication. How tokens are verified is
//! `toolgate_auth::AuthConfig` (issuer, JWKS, audiences, introspection, API keys); this module
//! adds what concerns the gateway's edge, in the same section: the resource's public URL
//! (`resource`), who may read `/metrics` (`metrics`) and the caller stdio runs as (`stdio`).
//!
//! Written by hand (serde and JSON Schema) because `AuthConfig` denies unknown fields, which
//! serde's `flatten` cannot combine with: the edge keys are taken out first and the rest is
//! `AuthConfig`'s, so an unknown key is still reported at its path.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_auth::AuthConfig;
use toolgate_core::{AuthMethod, Principal};
pub use toolgate_server::MetricsAccess;

/// Inbound authentication (off when the section is absent).
#[derive(Debug, Clone)]
pub struct AuthSection {
    /// The edge settings.
    pub edge: AuthEdge,
    /// How credentials are verified.
    pub verify: AuthConfig,
}

/// The edge keys of the `auth` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthEdge {
    /// The canonical URL of the MCP endpoint as clients reach it (`https://mcp.example.com/mcp`):
    /// the audience tokens must carry (RFC 8707) and the base of the RFC 9728 metadata URL
    /// announced in `WWW-Authenticate`. Default: `http://<http.bind><http.path>`, right only on
    /// loopback; set it whenever clients reach toolgate by another name (a proxy, TLS).
    pub resource: Option<String>,
    /// Who may read `/metrics`: `protected` (a valid credential, the default) or `open`
    /// (anyone who can reach the port, e.g. a scraper on a private network). `/healthz` and
    /// `/readyz` are always open.
    pub metrics: MetricsAccess,
    /// The caller every stdio request runs as (stdio carries no credential). Default: subject
    /// `stdio` with no scopes and no roles, which authorization rules deny by default.
    pub stdio: Option<StdioPrincipal>,
}

/// The configured caller of the stdio transport.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdioPrincipal {
    /// Subject (as a token's `sub`).
    pub subject: String,
    /// Granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The keys [`AuthEdge`] owns.
const EDGE_KEYS: [&str; 3] = ["resource", "metrics", "stdio"];

impl AuthSection {
    /// The principal stdio runs as.
    pub fn stdio_principal(&self) -> Principal {
        match &self.edge.stdio {
            Some(p) => {
                let mut principal =
                    Principal::new(p.subject.clone(), p.scopes.clone(), AuthMethod::Configured);
                principal.roles = p.roles.clone();
                principal
            }
            None => Principal::new("stdio", Vec::new(), AuthMethod::Configured),
        }
    }

    /// The resource URL: `auth.resource`, else `http://<bind><path>`.
    pub fn resource_url(&self, bind: &str, path: &str) -> String {
        self.edge
            .resource
            .clone()
            .unwrap_or_else(|| format!("http://{bind}{path}"))
    }
}

/// Splits a raw `auth` mapping into the edge keys and the rest.
fn split(mut map: serde_json::Map<String, Value>) -> (Value, Value) {
    let mut edge = serde_json::Map::new();
    for key in EDGE_KEYS {
        if let Some(v) = map.remove(key) {
            edge.insert(key.to_owned(), v);
        }
    }
    (Value::Object(edge), Value::Object(map))
}

impl<'de> Deserialize<'de> for AuthSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let map = serde_json::Map::<String, Value>::deserialize(d)?;
        let (edge, verify) = split(map);
        Ok(AuthSection {
            edge: serde_json::from_value(edge).map_err(D::Error::custom)?,
            verify: serde_json::from_value(verify).map_err(D::Error::custom)?,
        })
    }
}

impl Serialize for AuthSection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut value = serde_json::to_value(&self.verify).map_err(S::Error::custom)?;
        let edge = serde_json::to_value(&self.edge).map_err(S::Error::custom)?;
        if let (Value::Object(all), Value::Object(edge)) = (&mut value, edge) {
            all.extend(edge.into_iter().filter(|(_, v)| !v.is_null()));
        }
        value.serialize(s)
    }
}

impl JsonSchema for AuthSection {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AuthSection".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // `AuthConfig`'s schema with the edge keys' properties added.
        let mut verify = serde_json::to_value(AuthConfig::json_schema(generator))
            .unwrap_or_else(|_| Value::Object(Default::default()));
        let edge = serde_json::to_value(AuthEdge::json_schema(generator))
            .unwrap_or_else(|_| Value::Object(Default::default()));
        if let (Some(obj), Some(edge_props)) = (
            verify.as_object_mut(),
            edge.get("properties").and_then(Value::as_object),
        ) {
            let props = obj
                .entry("properties")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(props) = props.as_object_mut() {
                for (k, v) in edge_props {
                    props.insert(k.clone(), v.clone());
                }
            }
            obj.insert(
                "description".to_owned(),
                Value::from(
                    "Inbound authentication: every HTTP request must carry a credential \
                     (OAuth 2.1 bearer token or API key). Absent: no authentication.",
                ),
            );
        }
        schemars::Schema::try_from(verify).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load;

    #[test]
    fn edge_keys_and_verifier_keys_share_the_section() {
        let text = "auth:\n  issuer: https://idp.example\n  jwt: {}\n  resource: https://mcp.example/mcp\n  metrics: open\n  stdio: {subject: ci, scopes: [a]}\n";
        let config = load(text, "t", &Default::default()).unwrap();
        let auth = config.auth.unwrap();
        assert_eq!(auth.verify.issuer.as_deref(), Some("https://idp.example"));
        assert_eq!(auth.edge.metrics, super::MetricsAccess::Open);
        assert_eq!(
            auth.resource_url("0.0.0.0:1", "/mcp"),
            "https://mcp.example/mcp"
        );
        let principal = auth.stdio_principal();
        assert_eq!(principal.subject, "ci");
        assert_eq!(principal.scopes, ["a"]);
    }

    #[test]
    fn stdio_defaults_to_a_subject_without_scopes() {
        let config = load("auth:\n  jwt: {}\n", "t", &Default::default()).unwrap();
        let auth = config.auth.unwrap();
        let principal = auth.stdio_principal();
        assert_eq!(principal.subject, "stdio");
        assert!(principal.scopes.is_empty() && principal.roles.is_empty());
        assert_eq!(
            auth.resource_url("127.0.0.1:8080", "/mcp"),
            "http://127.0.0.1:8080/mcp"
        );
    }

    #[test]
    fn problems_are_reported_at_their_paths() {
        let text = "http:\n  bind: 0.0.0.0:8080\nauth:\n  isuer: x\n  metrics: sometimes\n  stdio: {subject: ' '}\n";
        let err = load(text, "t", &Default::default()).unwrap_err();
        let rendered = err.to_string();
        for want in ["isuer", "auth.metrics"] {
            assert!(rendered.contains(want), "{want} missing in {rendered}");
        }
        let text = "http:\n  bind: 0.0.0.0:8080\nauth:\n  jwt: {}\n  stdio: {subject: ' '}\n";
        let err = load(text, "t", &Default::default()).unwrap_err();
        let locations: Vec<_> = err.issues.iter().map(|i| i.location.as_str()).collect();
        assert_eq!(locations, ["auth.resource", "auth.stdio.subject"], "{err}");
        let text = "auth:\n  jwt: {}\n  resource: mcp.example/mcp\n";
        let err = load(text, "t", &Default::default()).unwrap_err();
        assert_eq!(err.issues[0].location, "auth.resource", "{err}");
    }
}
