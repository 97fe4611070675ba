//! Pure OpenAPI → MCP compiler.
//!
//! Owns: parsing OpenAPI 3.0/3.1 and Swagger 2.0 documents (JSON or YAML) already in memory,
//! `$ref` resolution (local, and other documents through a [`DocumentLoader`] supplied by the
//! caller), JSON Schema 2020-12 emission, tool naming, route maps and selection, producing the
//! [`ir::CompiledSpec`] the executor runs.
//!
//! Does not own: any I/O (no files, no network, no async): loading a spec from a path or URL
//! lives at the edge (the `toolgate` binary) and reaches this crate as bytes and a loader.

mod body;
mod compiler;
pub mod ir;
pub mod naming;
pub mod options;
mod output;
mod params;
mod parse;
pub mod refs;
mod routes;
mod schema;
mod swagger2;

pub use ir::*;
pub use options::*;

use serde_json::Value;

/// Why a spec as a whole could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The bytes are neither JSON nor YAML.
    #[error("spec is not valid JSON or YAML: {0}")]
    Syntax(String),
    /// The document is not an OpenAPI 2.0/3.x document.
    #[error("not an OpenAPI document: {0}")]
    NotOpenApi(String),
    /// The spec's own structure is unusable (e.g. `paths` is not an object).
    #[error("invalid spec at {pointer}: {message}")]
    Invalid {
        /// JSON pointer to the problem.
        pointer: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Compile options are contradictory or invalid (e.g. a bad route-map regex).
    #[error("invalid compile options: {0}")]
    Options(String),
}

/// Loads documents referenced by `$ref`s that point outside the current document.
///
/// `uri` is the reference with its fragment removed, already resolved against the referring
/// document's URI. Implementations enforce the confinement policy (same folder, no remote
/// URLs unless enabled) and return the parsed document.
pub trait DocumentLoader {
    /// Returns the parsed document at `uri`, or a message saying why it may not or could not be
    /// loaded.
    fn load(&self, uri: &str) -> Result<Value, String>;
}

/// A loader that refuses every external reference (for inline specs and tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExternalRefs;

impl DocumentLoader for NoExternalRefs {
    fn load(&self, uri: &str) -> Result<Value, String> {
        Err(format!(
            "external reference `{uri}` cannot be resolved: this spec was given inline or without a base location"
        ))
    }
}

/// Parses spec bytes as JSON (if they start with `{`) or YAML.
pub fn parse_document(bytes: &[u8]) -> Result<Value, SpecError> {
    parse::parse_document(bytes)
}

/// Compiles a parsed document into MCP components.
///
/// `base_uri` is where the document came from (a `file://` or `http(s)://` URI), used to
/// resolve relative external `$ref`s; `loader` fetches those. One operation that cannot be
/// compiled becomes an `Error` diagnostic; only a document that is unusable as a whole is an
/// `Err`.
pub fn compile(
    doc: &Value,
    base_uri: Option<&str>,
    options: &CompileOptions,
    loader: &dyn DocumentLoader,
) -> Result<CompiledSpec, SpecError> {
    compiler::compile(doc, base_uri, options, loader)
}
