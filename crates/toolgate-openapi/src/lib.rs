//! Pure OpenAPI → MCP compiler.
//!
//! Owns: parsing OpenAPI 3.0/3.1 and Swagger 2.0 documents (JSON or YAML) already in memory,
//! `$ref` resolution (local, and other documents through a [`DocumentLoader`] supplied by the
//! caller), JSON Schema 2020-12 emission, tool naming, route maps and selection, producing the
//! [`ir::CompiledSpec`] the executor runs.
//!
//! Does not own: any I/O (no files, no network, no async): loading a spec from a path or URL
//! lives at the edge (the `toolgate` binary) and reaches this crate as bytes and a loader.
//!
//! # Pipeline
//! [`parse_for_compile`] (JSON if the first non-blank byte is `{`, else YAML; parts the compiler
//! never reads, such as examples, are left out while parsing: `skip`) → [`compile`]:
//! Swagger 2.0 is first converted to OpenAPI 3.0 (`swagger2`), then every operation of `paths`
//! is selected (`routes`; the login operation of an OAuth2 password flow is left out with an
//! `Info` diagnostic, `security`), compiled (`params`, `body`, `output`, `schema`) and named
//! (`naming`).
//! An operation that cannot be compiled (broken `$ref`, bad parameter) is skipped with an
//! `Error` diagnostic carrying its JSON pointer; a broken *response* schema only drops the
//! output schema (warning), since the tool still works without one.
//!
//! # `$ref` strategy
//! Refs to parameters, request bodies, responses, path items and arbitrary JSON pointers
//! (`#/paths/~1users/get/...`, `~0`/`~1` escaping, percent-encoded fragments; `#definitions/X`
//! missing its leading `/` is read as a pointer) are followed.
//! Refs inside schemas are never inlined: every referenced schema location becomes a named entry
//! of the tool schema's `$defs` and the ref is rewritten to `#/$defs/<Name>` (component schemas
//! keep their name; other locations, e.g. in external files, get their last pointer segment,
//! prefixed with the file stem or numbered when taken). Each tool carries only the defs it
//! transitively uses. This is cycle-proof (conversion never follows a ref) and keeps shared
//! schemas small. Converted defs are memoized, so a schema is converted at most once per
//! direction (input: `readOnly` properties dropped; output: `writeOnly` dropped). A tool schema's
//! `$defs` have a size budget (128 KiB of compact JSON; less in specs with over ~1,000 tools,
//! 256 MiB shared by all, at least 8 KiB): defs are taken breadth-first from the tool schema,
//! and a ref to one past the budget becomes that def's `type` alone, with a warning (Microsoft
//! Graph's 22,000 densely linked tools otherwise need tens of GB). Exceptions, by
//! design: a top-level request body `$ref`/`allOf` is flattened into arguments, and a top-level
//! object response `$ref` is inlined as the output schema. External documents are fetched once
//! through the [`DocumentLoader`], resolved against the referring document's URI; http(s) refs
//! need `allow_remote_refs`.
//!
//! # Arguments and collisions
//! One flat object per tool: path, query, header and cookie parameters (path-item and operation
//! level merged, operation wins) plus the properties of an object request body; any other body
//! (array, primitive, free-form map, `oneOf`, binary, text) is one argument named `body`.
//! Body properties (or `body`) always keep their names. A parameter whose name is also a body
//! argument, or also a parameter in another location, becomes `<name>__<location>` (e.g.
//! `id__path`, `id__query`); if that is still taken, `_2`, `_3`, … is appended. A body
//! property is required only when `requestBody.required` is true and the schema requires it.
//!
//! # Names
//! Base: `names[operationId]`, else `overrides[..].name`, else `x-mcp-name`, else the
//! `operationId` (FastAPI's generated `_<path>_<method>` tail removed), else `<method>_<path>`.
//! Sanitized to `[A-Za-z0-9_-]` (runs of `_` collapsed, ends trimmed), prefixed
//! `<namespace>_`, capped at `max_name_length` including namespace and suffixes (truncated
//! names end in `_` + 6 hex chars of the SHA-256 of the untruncated name), deduplicated in
//! document order with `_2`, `_3`, … and a warning.

mod body;
mod compiler;
pub mod ir;
mod lean_parse;
pub mod naming;
pub mod options;
mod output;
mod params;
mod parse;
pub mod refs;
mod routes;
mod schema;
mod security;
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
/// URLs unless enabled) and return the parsed document. A compilation loads each URI once;
/// the loader is shared by its threads, hence `Sync`.
pub trait DocumentLoader: Sync {
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

/// Parses the document a compilation starts from, like [`parse_document`] but leaving out the
/// parts the compiler never reads (examples, webhooks, links, callbacks: about a third of
/// GitHub's description), so big specs take less memory while they compile. The compiled
/// result is the same; if a `$ref` points into a part that would be left out, the document is
/// parsed in full. Documents loaded by a [`DocumentLoader`] should use [`parse_document`].
pub fn parse_for_compile(bytes: &[u8]) -> Result<Value, SpecError> {
    parse::parse_for_compile(bytes)
}

/// Compiles a parsed document into MCP components.
///
/// `base_uri` is where the document came from (a `file://` or `http(s)://` URI), used to
/// resolve relative external `$ref`s; `loader` fetches those. One operation that cannot be
/// compiled becomes an `Error` diagnostic; only a document that is unusable as a whole is an
/// `Err`.
///
/// A spec with many operations is compiled on two threads when the machine has two cores; the
/// result is the same as on one. [`compile_with`] lets the caller decide.
pub fn compile(
    doc: &Value,
    base_uri: Option<&str>,
    options: &CompileOptions,
    loader: &dyn DocumentLoader,
) -> Result<CompiledSpec, SpecError> {
    compile_with(doc, base_uri, options, loader, Parallelism::Auto)
}

/// How many threads [`compile_with`] compiles on. The result is the same whatever the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// Two when the spec serves many operations (256 or more) and the machine has two cores.
    #[default]
    Auto,
    /// The caller's thread only: no thread is ever spawned.
    One,
    /// Two whenever the spec has two path items, whatever its size and the machine's cores
    /// (tests use it to check that two threads give what one gives).
    Two,
}

/// [`compile`], on as many threads as `parallelism` says.
pub fn compile_with(
    doc: &Value,
    base_uri: Option<&str>,
    options: &CompileOptions,
    loader: &dyn DocumentLoader,
    parallelism: Parallelism,
) -> Result<CompiledSpec, SpecError> {
    compiler::compile(doc, base_uri, options, loader, parallelism)
}

/// How many compilations started on the calling thread ran on two workers, so a test can
/// tell that the two-worker path really ran. Not part of the stable API.
#[doc(hidden)]
pub fn two_worker_compiles() -> usize {
    compiler::TWO_WORKER_COMPILES.with(std::cell::Cell::get)
}

/// [`compile_with`] on two threads whatever the size of the spec and the machine (when it has
/// two path items), so tests can check that the result is the same as on one.
#[doc(hidden)]
pub fn compile_on_two_threads(
    doc: &Value,
    base_uri: Option<&str>,
    options: &CompileOptions,
    loader: &dyn DocumentLoader,
) -> Result<CompiledSpec, SpecError> {
    compile_with(doc, base_uri, options, loader, Parallelism::Two)
}
