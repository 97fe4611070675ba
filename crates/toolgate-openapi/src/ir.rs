//! The compiled intermediate representation: what the compiler emits and the executor consumes.
//!
//! This module owns the *contract* between `toolgate-openapi` (which builds it from a spec) and
//! `toolgate-http` (which turns a call's arguments into an HTTP request with it). It holds no
//! behaviour beyond small helpers; it is plain data, cheap to clone behind `Arc`, and never
//! refers back to the source document, so a compiled spec can outlive the parsed JSON.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object, the type of every emitted JSON Schema and of tool arguments.
pub type JsonObject = Map<String, Value>;

/// Everything one spec compiled into: operations ready to serve and diagnostics for what was not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompiledSpec {
    /// `info.title` of the spec.
    pub title: String,
    /// `info.version` of the spec.
    pub version: String,
    /// The OpenAPI / Swagger version the document declared (`"3.1.0"`, `"2.0"`, …).
    pub spec_version: String,
    /// The spec's default server URL (`servers[0]` with variables substituted by their
    /// defaults, or Swagger 2.0 `schemes`/`host`/`basePath`). May be relative (`/api`); the edge
    /// resolves it against the URL the spec was loaded from. `None` when the spec names none.
    pub base_url: Option<String>,
    /// Security schemes declared by the spec (`components.securitySchemes` or Swagger 2.0
    /// `securityDefinitions`), by name. The executor matches configured credentials to these.
    pub security_schemes: Vec<SecurityScheme>,
    /// Compiled operations, in document order (paths in order, methods in the fixed order
    /// get, put, post, delete, options, head, patch, trace).
    pub operations: Vec<Operation>,
    /// Problems found while compiling. An operation with an `Error` diagnostic was skipped.
    pub diagnostics: Vec<Diagnostic>,
}

/// One HTTP operation compiled into an MCP tool, resource or resource template.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Operation {
    /// Final MCP name: sanitized to `[A-Za-z0-9_-]`, capped (namespace and suffixes included),
    /// unique within the compiled spec.
    pub name: String,
    /// What this operation is exposed as.
    pub kind: ComponentKind,
    /// The spec's `operationId`, verbatim, when present.
    pub operation_id: Option<String>,
    /// HTTP method.
    pub method: HttpMethod,
    /// Path template exactly as in the spec, e.g. `/users/{user_id}/tasks`.
    pub path: String,
    /// JSON pointer to the operation in the source document, e.g. `#/paths/~1users~1{id}/get`.
    pub pointer: String,
    /// Operation-level server URL override (`servers[0]` of the operation or path item), if any.
    pub server_url: Option<String>,
    /// Human-friendly title, from `summary`.
    pub title: Option<String>,
    /// Tool description (from `description`, else `summary`, else `"<METHOD> <path>"`), already
    /// shortened to the configured cap. Never empty: MCP clients and the conformance suite
    /// reject tools without one.
    pub description: String,
    /// OpenAPI tags of the operation.
    pub tags: Vec<String>,
    /// `deprecated: true` in the spec.
    pub deprecated: bool,
    /// Parameters (path, query, header, cookie), path-item and operation level merged, in
    /// declaration order.
    pub params: Vec<Param>,
    /// The request body, if the operation takes one.
    pub body: Option<Body>,
    /// JSON Schema 2020-12 for the tool's arguments: always `{"type":"object", ...}`.
    pub input_schema: JsonObject,
    /// JSON Schema 2020-12 for `structuredContent`, from the primary 2xx JSON response. Always
    /// an object schema; a non-object response schema is wrapped (see `output_wrap`).
    pub output_schema: Option<JsonObject>,
    /// When `Some(key)`, the response body must be wrapped as `{key: body}` before being
    /// returned as `structuredContent` (the response schema was not an object).
    pub output_wrap: Option<String>,
    /// MCP tool annotations derived from the method (and overrides).
    pub annotations: Annotations,
    /// Security requirements that apply (operation-level, else document-level). Each entry is
    /// one alternative; all schemes inside one alternative apply together. Empty = no auth.
    pub security: Vec<Vec<String>>,
}

/// What an operation is exposed as over MCP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ComponentKind {
    /// A tool (`tools/list`, `tools/call`).
    Tool,
    /// A fixed resource (`resources/list`, `resources/read`). Only for operations without
    /// required arguments.
    Resource {
        /// Resource URI, e.g. `api://todo/users`.
        uri: String,
    },
    /// A resource template (`resources/templates/list`); read by expanding the template.
    ResourceTemplate {
        /// RFC 6570 template whose variables are argument names, e.g. `api://todo/users/{user_id}`.
        uri_template: String,
    },
}

/// HTTP methods an OpenAPI operation may use.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// PUT
    Put,
    /// POST
    Post,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// HEAD
    Head,
    /// PATCH
    Patch,
    /// TRACE
    Trace,
}

impl HttpMethod {
    /// All methods in the order operations are read from a path item.
    pub const ALL: [HttpMethod; 8] = [
        HttpMethod::Get,
        HttpMethod::Put,
        HttpMethod::Post,
        HttpMethod::Delete,
        HttpMethod::Options,
        HttpMethod::Head,
        HttpMethod::Patch,
        HttpMethod::Trace,
    ];

    /// Upper-case method name, as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Put => "PUT",
            HttpMethod::Post => "POST",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Head => "HEAD",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Trace => "TRACE",
        }
    }

    /// Lower-case key of this method in an OpenAPI path item.
    pub fn key(self) -> &'static str {
        match self {
            HttpMethod::Get => "get",
            HttpMethod::Put => "put",
            HttpMethod::Post => "post",
            HttpMethod::Delete => "delete",
            HttpMethod::Options => "options",
            HttpMethod::Head => "head",
            HttpMethod::Patch => "patch",
            HttpMethod::Trace => "trace",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ParamLocation {
    /// Substituted into the path template.
    Path,
    /// Appended to the query string.
    Query,
    /// Sent as a request header.
    Header,
    /// Sent in the `Cookie` header.
    Cookie,
}

impl ParamLocation {
    /// The OpenAPI `in` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
            ParamLocation::Cookie => "cookie",
        }
    }
}

/// OpenAPI 3 parameter serialization style (Swagger 2.0 `collectionFormat` is mapped onto these).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub enum ParamStyle {
    /// `form` (query, cookie default).
    Form,
    /// `simple` (path, header default).
    Simple,
    /// `label` (`.value`).
    Label,
    /// `matrix` (`;name=value`).
    Matrix,
    /// `spaceDelimited` (query arrays).
    SpaceDelimited,
    /// `pipeDelimited` (query arrays).
    PipeDelimited,
    /// `deepObject` (`name[key]=value`).
    DeepObject,
    /// Swagger 2.0 `collectionFormat: tsv` (tab-joined). Not an OpenAPI 3 style.
    TabDelimited,
}

/// One parameter of an operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Param {
    /// Name of the argument in `input_schema` (after collision resolution; see the compiler's
    /// docs). Usually equal to `name`.
    pub arg: String,
    /// Wire name (the OpenAPI `name`).
    pub name: String,
    /// `in`.
    pub location: ParamLocation,
    /// Whether the argument is required (always true for path parameters).
    pub required: bool,
    /// Serialization style (the spec's, or the default for the location).
    pub style: ParamStyle,
    /// `explode` (the spec's, or the default for the style: true only for `form`).
    pub explode: bool,
    /// `allowReserved` (query only): reserved characters are sent unencoded.
    pub allow_reserved: bool,
    /// For `content`-typed parameters: the media type; the value is serialized as that (JSON)
    /// and then encoded for the location, ignoring `style`.
    pub content_type: Option<String>,
}

/// The request body of an operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Body {
    /// The media type to send (the first supported one in the spec, or the configured override).
    pub content_type: String,
    /// Whether `requestBody.required` is true.
    pub required: bool,
    /// How arguments map onto the body.
    pub mode: BodyMode,
    /// Properties sent as files in `multipart/form-data` (schema `format: binary` or
    /// `contentMediaType`/`contentEncoding` set); their argument values are base64 or data-URI
    /// strings. Names are wire property names.
    pub file_fields: Vec<String>,
    /// Per-property content types for multipart parts (`encoding.<prop>.contentType`).
    pub part_content_types: Vec<(String, String)>,
}

/// How tool arguments become the request body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum BodyMode {
    /// An object body whose properties are top-level arguments. Each pair is
    /// `(argument name, body property name)`; they differ only when a property collided with a
    /// parameter. Only arguments present in the call are sent.
    Properties {
        /// `(arg, property)` pairs in schema order.
        fields: Vec<(String, String)>,
    },
    /// The whole body is one argument (array, primitive, free-form map, binary). Sent as is.
    Whole {
        /// The argument name, normally `body`.
        arg: String,
    },
}

/// MCP tool annotations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Annotations {
    /// Display title (from `summary`).
    pub title: Option<String>,
    /// GET/HEAD (and OPTIONS/TRACE): does not modify its environment.
    pub read_only: Option<bool>,
    /// DELETE: may destroy data.
    pub destructive: Option<bool>,
    /// GET/HEAD/PUT/DELETE (and OPTIONS/TRACE).
    pub idempotent: Option<bool>,
    /// Whether the tool reaches an open world of external entities.
    pub open_world: Option<bool>,
}

/// A security scheme declared by the spec.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecurityScheme {
    /// Key under `securitySchemes`.
    pub name: String,
    /// What kind of credential it takes.
    pub kind: SecuritySchemeKind,
}

/// The credential shape of a security scheme.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SecuritySchemeKind {
    /// `apiKey` in a header, query parameter or cookie.
    ApiKey {
        /// Where the key goes.
        location: ParamLocation,
        /// The header / parameter / cookie name.
        param_name: String,
    },
    /// `http` with scheme `bearer`.
    Bearer,
    /// `http` with scheme `basic`.
    Basic,
    /// `oauth2` (FastAPI's `OAuth2PasswordBearer` declares one with a password flow), with
    /// the token URLs of the flows toolgate can run itself. Token URLs are as written in the
    /// spec: possibly relative to the server URL.
    OAuth2 {
        /// `flows.clientCredentials.tokenUrl` (3.x) or `tokenUrl` with flow `application` (2.0).
        token_url: Option<String>,
        /// `flows.password.tokenUrl` (3.x) or `tokenUrl` with flow `password` (2.0): where
        /// a username and password are exchanged for a token (FastAPI's `tokenUrl`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_token_url: Option<String>,
    },
    /// `openIdConnect` or an unsupported `http` scheme; kept for diagnostics.
    Other {
        /// The raw type/scheme.
        description: String,
    },
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something was left out on purpose, with how to change that (e.g. the login operation
    /// of an OAuth2 password flow).
    Info,
    /// Something was adjusted (renamed, truncated, ignored) but the operation is served.
    Warning,
    /// The operation was skipped.
    Error,
}

/// A problem found while compiling, located by JSON pointer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Diagnostic {
    /// Info (left out on purpose), warning (served, adjusted) or error (skipped).
    pub severity: Severity,
    /// JSON pointer into the source document (e.g. `#/paths/~1pets/get/parameters/0`).
    pub pointer: String,
    /// The operation this concerns, as `METHOD /path`, when it concerns one.
    pub operation: Option<String>,
    /// What went wrong and how to fix it, in one sentence or two.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match &self.operation {
            Some(op) => write!(f, "{sev}: {op} ({}): {}", self.pointer, self.message),
            None => write!(f, "{sev}: {}: {}", self.pointer, self.message),
        }
    }
}
