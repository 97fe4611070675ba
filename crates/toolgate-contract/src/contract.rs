//! The contract document: what a catalog serves, canonicalized and hashed, and its JSON form
//! (pretty, keys sorted, byte-for-byte stable for the same catalog).
//!
//! Does not own: comparing two contracts (`diff`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use toolgate_core::Catalog;

use crate::canonical;

/// The `format` of the contracts this version writes and reads.
pub const FORMAT: &str = "toolgate-contract/1";

/// Why a contract document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// Not JSON, or not shaped like a contract.
    #[error("not a toolgate contract snapshot: {0}")]
    Shape(String),
    /// A contract of another format version.
    #[error(
        "contract format `{found}` is not supported (this toolgate reads `{FORMAT}`); take the snapshot again with this version"
    )]
    Format {
        /// The document's `format`.
        found: String,
    },
    /// The content does not match the recorded hash.
    #[error(
        "the snapshot's content does not match its hash (recorded {recorded}, content {actual}): it was edited after it was taken; take it again with `toolgate contract snapshot`"
    )]
    Hash {
        /// `hash` as written in the document.
        recorded: String,
        /// The hash of the content.
        actual: String,
    },
}

/// What a configuration or spec serves, at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Always [`FORMAT`].
    pub format: String,
    /// The version label given when the snapshot was taken (`v2`, a release, a commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The toolgate version that took the snapshot.
    pub toolgate_version: String,
    /// `sha256:` of the canonical content (tools, resources, templates, prompts); the label
    /// and toolgate version are not part of it, so the same catalog has the same hash.
    pub hash: String,
    /// Tools, sorted by name.
    pub tools: Vec<ToolContract>,
    /// Resources, sorted by URI.
    pub resources: Vec<ResourceContract>,
    /// Resource templates, sorted by URI template.
    pub resource_templates: Vec<TemplateContract>,
    /// Prompts, sorted by name.
    pub prompts: Vec<PromptContract>,
}

/// One tool as clients see it in `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolContract {
    /// The served name.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description (what the model reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `inputSchema`, canonicalized (`$ref`s as compiled).
    #[serde(rename = "inputSchema")]
    pub input_schema: Value,
    /// `outputSchema`, canonicalized.
    #[serde(
        rename = "outputSchema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub output_schema: Option<Value>,
    /// `annotations` (title and hints) as served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// One resource as clients see it in `resources/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceContract {
    /// Its URI.
    pub uri: String,
    /// Its name.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of its contents.
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One resource template as clients see it in `resources/templates/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateContract {
    /// Its RFC 6570 URI template.
    #[serde(rename = "uriTemplate")]
    pub uri_template: String,
    /// Its name.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of its contents.
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One prompt as clients see it in `prompts/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptContract {
    /// Its name.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments, in the order served.
    #[serde(default)]
    pub arguments: Vec<PromptArgumentContract>,
}

/// One argument of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptArgumentContract {
    /// Its name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether callers must give it.
    #[serde(default)]
    pub required: bool,
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Contract {
    /// The contract of everything `catalog` serves.
    pub fn from_catalog(catalog: &Catalog, label: Option<String>, toolgate_version: &str) -> Self {
        // The definitions as clients receive them: their serialized form.
        let json = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
        let tools = catalog
            .tools()
            .iter()
            .map(|e| {
                let t = json(serde_json::to_value(&e.tool));
                ToolContract {
                    name: e.tool.name.to_string(),
                    title: str_field(&t, "title"),
                    description: str_field(&t, "description"),
                    input_schema: t.get("inputSchema").cloned().unwrap_or(Value::Null),
                    output_schema: t.get("outputSchema").cloned(),
                    annotations: t.get("annotations").cloned(),
                }
            })
            .collect();
        let resources = catalog
            .resources()
            .iter()
            .map(|e| {
                let r = json(serde_json::to_value(&e.resource));
                ResourceContract {
                    uri: str_field(&r, "uri").unwrap_or_default(),
                    name: str_field(&r, "name").unwrap_or_default(),
                    title: str_field(&r, "title"),
                    description: str_field(&r, "description"),
                    mime_type: str_field(&r, "mimeType"),
                }
            })
            .collect();
        let templates = catalog
            .templates()
            .iter()
            .map(|e| {
                let r = json(serde_json::to_value(&e.template));
                TemplateContract {
                    uri_template: str_field(&r, "uriTemplate").unwrap_or_default(),
                    name: str_field(&r, "name").unwrap_or_default(),
                    title: str_field(&r, "title"),
                    description: str_field(&r, "description"),
                    mime_type: str_field(&r, "mimeType"),
                }
            })
            .collect();
        let prompts = catalog
            .prompts()
            .iter()
            .map(|e| PromptContract {
                name: e.prompt.name.clone(),
                title: e.prompt.title.clone(),
                description: e.prompt.description.clone(),
                arguments: e
                    .prompt
                    .arguments
                    .iter()
                    .flatten()
                    .map(|a| PromptArgumentContract {
                        name: a.name.clone(),
                        description: a.description.clone(),
                        required: a.required.unwrap_or(false),
                    })
                    .collect(),
            })
            .collect();
        Contract::new(
            label,
            toolgate_version,
            tools,
            resources,
            templates,
            prompts,
        )
    }

    /// A contract of these components: canonicalized, sorted and hashed.
    pub fn new(
        label: Option<String>,
        toolgate_version: &str,
        mut tools: Vec<ToolContract>,
        mut resources: Vec<ResourceContract>,
        mut resource_templates: Vec<TemplateContract>,
        mut prompts: Vec<PromptContract>,
    ) -> Self {
        for t in &mut tools {
            t.input_schema = canonical::schema(&t.input_schema);
            t.output_schema = t.output_schema.as_ref().map(canonical::schema);
            t.annotations = t.annotations.as_ref().map(canonical::sorted);
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        resources.sort_by(|a, b| a.uri.cmp(&b.uri));
        resource_templates.sort_by(|a, b| a.uri_template.cmp(&b.uri_template));
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
        let mut contract = Contract {
            format: FORMAT.to_owned(),
            label,
            toolgate_version: toolgate_version.to_owned(),
            hash: String::new(),
            tools,
            resources,
            resource_templates,
            prompts,
        };
        contract.hash = contract.content_hash();
        contract
    }

    /// `sha256:<hex>` of the canonical content (everything but format, label, version, hash).
    pub fn content_hash(&self) -> String {
        let content = serde_json::json!({
            "tools": self.tools,
            "resources": self.resources,
            "resource_templates": self.resource_templates,
            "prompts": self.prompts,
        });
        let bytes = serde_json::to_vec(&canonical::sorted(&content)).unwrap_or_default();
        let digest = Sha256::digest(&bytes);
        let mut hex = String::with_capacity(7 + 64);
        hex.push_str("sha256:");
        for b in digest {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    }

    /// The snapshot file's text: pretty JSON, keys sorted, ending in a newline.
    pub fn to_pretty_json(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut text = serde_json::to_string_pretty(&canonical::sorted(&value)).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a snapshot written by [`Contract::to_pretty_json`], checking its format and hash.
    pub fn from_json(value: Value) -> Result<Self, ContractError> {
        if let Some(found) = value.get("format").and_then(Value::as_str)
            && found != FORMAT
        {
            return Err(ContractError::Format {
                found: found.to_owned(),
            });
        }
        let contract: Contract =
            serde_json::from_value(value).map_err(|e| ContractError::Shape(e.to_string()))?;
        // Written by `to_pretty_json`, the content is canonical already: the recorded hash
        // must be the content's.
        let actual = contract.content_hash();
        if actual != contract.hash {
            return Err(ContractError::Hash {
                recorded: contract.hash,
                actual,
            });
        }
        Ok(contract)
    }

    /// Whether `value` looks like a contract snapshot (has this crate's `format` key).
    pub fn is_snapshot(value: &Value) -> bool {
        value
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| f.starts_with("toolgate-contract/"))
    }

    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&ToolContract> {
        self.tools
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tools[i])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, input: Value) -> ToolContract {
        ToolContract {
            name: name.into(),
            title: None,
            description: Some(format!("{name} things")),
            input_schema: input,
            output_schema: None,
            annotations: Some(json!({"readOnlyHint": true, "destructiveHint": false})),
        }
    }

    fn sample(order: bool) -> Contract {
        let a = tool(
            "a",
            json!({"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "integer"}}, "required": ["y", "x"]}),
        );
        let b = tool(
            "b",
            json!({"required": ["x", "y"], "properties": {"y": {"type": "integer"}, "x": {"type": "string"}}, "type": "object"}),
        );
        let tools = if order {
            vec![a, b]
        } else {
            // Reversed, and each schema written in the other's key and `required` order.
            let (mut a2, mut b2) = (a.clone(), b.clone());
            a2.input_schema = b.input_schema.clone();
            b2.input_schema = a.input_schema.clone();
            vec![b2, a2]
        };
        Contract::new(Some("v1".into()), "0.1.0", tools, vec![], vec![], vec![])
    }

    #[test]
    fn same_content_in_any_order_gives_the_same_bytes() {
        let one = sample(true).to_pretty_json();
        let two = sample(false).to_pretty_json();
        assert_eq!(one, two);
        // And again: no hidden state (hash maps, clocks).
        assert_eq!(one, sample(true).to_pretty_json());
        assert!(one.ends_with("}\n"));
        assert!(one.contains("\"hash\": \"sha256:"), "{one}");
    }

    #[test]
    fn the_hash_ignores_the_label_and_follows_the_content() {
        let mut c = sample(true);
        let h = c.hash.clone();
        let relabeled = Contract::new(
            Some("other".into()),
            "9.9.9",
            c.tools.clone(),
            vec![],
            vec![],
            vec![],
        );
        assert_eq!(relabeled.hash, h);
        c.tools[0].description = Some("changed".into());
        assert_ne!(c.content_hash(), h);
    }

    #[test]
    fn a_snapshot_round_trips_and_an_edited_one_is_refused() {
        let c = sample(true);
        let text = c.to_pretty_json();
        let back = Contract::from_json(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.to_pretty_json(), text);
        let edited = text.replace("a things", "A things");
        let err = Contract::from_json(serde_json::from_str(&edited).unwrap()).unwrap_err();
        assert!(matches!(err, ContractError::Hash { .. }), "{err}");
        assert!(err.to_string().contains("toolgate contract snapshot"));
        let other = text.replace(FORMAT, "toolgate-contract/9");
        let err = Contract::from_json(serde_json::from_str(&other).unwrap()).unwrap_err();
        assert!(err.to_string().contains("toolgate-contract/9"), "{err}");
    }
}
