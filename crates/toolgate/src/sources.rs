//! Turns configured OpenAPI sources into catalog contributions: loads each spec (file, URL or
//! inline), compiles it, resolves the backend base URL, and makes one handler per operation.
//! (MCP sources are `toolgate_upstream`'s; `run.rs` assembles both.)
//!
//! This is the edge where I/O happens for spec loading: the compiler itself is pure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{JsonObject, Resource, ResourceTemplate, Tool, ToolAnnotations};
use serde_json::Value;
use toolgate_core::catalog::{ResourceEntry, TemplateEntry};
use toolgate_core::uri_template::UriTemplate;
use toolgate_core::{Contribution, SourceCapabilities, SourceEntry, ToolEntry};
use toolgate_http::HttpBackend;
use toolgate_openapi::{CompiledSpec, ComponentKind, DocumentLoader, Operation, Severity};
use url::Url;

use crate::config::{OpenApiSourceConfig as SourceConfig, SpecLocation};

/// Why a source could not be loaded; every variant is a user-facing input problem (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The spec file could not be read.
    #[error("source `{source_name}`: cannot read spec file {path}: {reason}")]
    ReadFile {
        /// Source name.
        source_name: String,
        /// The path.
        path: String,
        /// OS error.
        reason: String,
    },
    /// The spec URL could not be fetched.
    #[error("source `{source_name}`: cannot fetch spec from {url}: {reason}")]
    Fetch {
        /// Source name.
        source_name: String,
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The spec is unusable.
    #[error("source `{source_name}`: {reason}")]
    Spec {
        /// Source name.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// No base URL could be determined, or it is invalid.
    #[error("source `{source_name}`: {reason}")]
    BaseUrl {
        /// Source name.
        source_name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The backend options are invalid.
    #[error("source `{source_name}`: invalid backend options: {reason}")]
    Backend {
        /// Source name.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two sources produced the same tool name.
    #[error("{0}")]
    Duplicate(String),
}

/// A spec loaded into memory with where it came from.
pub struct LoadedSpec {
    /// The parsed document.
    pub document: Value,
    /// `file://…` or `http(s)://…` URI of the document, when it has one.
    pub base_uri: Option<Url>,
}

/// Loads the document named by `location` (`relative_to` is the config file's folder).
pub async fn load_spec(
    source_name: &str,
    location: &SpecLocation,
    relative_to: &Path,
) -> Result<LoadedSpec, SourceError> {
    match location {
        SpecLocation::Inline { inline } => Ok(LoadedSpec {
            document: inline.clone(),
            base_uri: None,
        }),
        SpecLocation::Location(loc)
            if loc.starts_with("http://") || loc.starts_with("https://") =>
        {
            let url = Url::parse(loc).map_err(|e| SourceError::Fetch {
                source_name: source_name.to_owned(),
                url: loc.clone(),
                reason: format!("invalid URL: {e}"),
            })?;
            let bytes = fetch(&url).await.map_err(|reason| SourceError::Fetch {
                source_name: source_name.to_owned(),
                url: loc.clone(),
                reason,
            })?;
            let document = parse(source_name, loc, &bytes)?;
            Ok(LoadedSpec {
                document,
                base_uri: Some(url),
            })
        }
        SpecLocation::Location(loc) => {
            let path = relative_to.join(loc);
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| SourceError::ReadFile {
                    source_name: source_name.to_owned(),
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            let document = parse(source_name, &path.display().to_string(), &bytes)?;
            let abs = std::fs::canonicalize(&path).unwrap_or(path);
            Ok(LoadedSpec {
                document,
                base_uri: Url::from_file_path(&abs).ok(),
            })
        }
    }
}

/// Parses a source's root document. The parts the compiler never reads (examples, webhooks)
/// are left out while parsing: GitHub's description then takes ~27 MB instead of ~53 MB while
/// it compiles. Documents reached through `$ref` are parsed in full by [`EdgeLoader`].
fn parse(source_name: &str, location: &str, bytes: &[u8]) -> Result<Value, SourceError> {
    toolgate_openapi::parse_for_compile(bytes).map_err(|e| SourceError::Spec {
        source_name: source_name.to_owned(),
        reason: format!("{location}: {e}"),
    })
}

async fn fetch(url: &Url) -> Result<Vec<u8>, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(url.clone())
        .header(
            "accept",
            "application/json, application/yaml;q=0.9, */*;q=0.5",
        )
        .send()
        .await
        .map_err(|e| describe_reqwest(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("the server answered {status}"));
    }
    Ok(resp
        .bytes()
        .await
        .map_err(|e| describe_reqwest(&e))?
        .to_vec())
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection failed (is the service running and the address right?)".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        msg
    }
}

/// Resolves external `$ref`s of file-based specs, confined to the spec's folder; refuses
/// remote URLs (unless allowed, in which case they are fetched on the runtime).
struct EdgeLoader {
    root: Option<PathBuf>,
    allow_remote: bool,
    runtime: tokio::runtime::Handle,
}

impl DocumentLoader for EdgeLoader {
    fn load(&self, uri: &str) -> Result<Value, String> {
        let url = Url::parse(uri).map_err(|e| format!("invalid reference URI `{uri}`: {e}"))?;
        match url.scheme() {
            "file" => {
                let root = self.root.as_ref().ok_or_else(|| {
                    format!("`{uri}` is a file reference but the spec was not loaded from a file")
                })?;
                let path = url
                    .to_file_path()
                    .map_err(|()| format!("`{uri}` is not a local file path"))?;
                let canonical = std::fs::canonicalize(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if !canonical.starts_with(root) {
                    return Err(format!(
                        "{} is outside the spec's folder {}; references may only point inside it",
                        canonical.display(),
                        root.display()
                    ));
                }
                let bytes = std::fs::read(&canonical)
                    .map_err(|e| format!("cannot read {}: {e}", canonical.display()))?;
                toolgate_openapi::parse_document(&bytes).map_err(|e| e.to_string())
            }
            "http" | "https" if self.allow_remote => {
                let bytes = self.runtime.block_on(fetch(&url))?;
                toolgate_openapi::parse_document(&bytes).map_err(|e| e.to_string())
            }
            "http" | "https" => Err(format!(
                "remote reference `{uri}` refused: set `compile.allow_remote_refs: true` for this source to allow fetching it"
            )),
            other => Err(format!("unsupported reference scheme `{other}` in `{uri}`")),
        }
    }
}

/// Compiles a loaded spec (on a blocking thread: big specs take CPU time).
pub async fn compile_spec(
    source: &SourceConfig,
    loaded: LoadedSpec,
) -> Result<CompiledSpec, SourceError> {
    let root = loaded
        .base_uri
        .as_ref()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let loader = EdgeLoader {
        root,
        allow_remote: source.compile.allow_remote_refs,
        runtime: tokio::runtime::Handle::current(),
    };
    let options = source.compile.clone();
    let name = source.name.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let compiling = tokio::task::spawn_blocking(move || {
        let compiled = toolgate_openapi::compile(
            &loaded.document,
            loaded.base_uri.as_ref().map(Url::as_str),
            &options,
            &loader,
        );
        // Hand the result over first: freeing a big document takes a while (GitHub's: ~20 ms
        // of a ~250 ms start), and the caller can build the catalog meanwhile.
        let _ = tx.send(compiled);
        drop(loaded);
    });
    let compiled = match rx.await {
        Ok(compiled) => compiled,
        // The sender is gone without sending: the compiler panicked.
        Err(_) => {
            let reason = match compiling.await {
                Err(e) => format!("compiler crashed: {e}"),
                Ok(()) => "compiler stopped without a result".to_owned(),
            };
            return Err(SourceError::Spec {
                source_name: name,
                reason,
            });
        }
    };
    compiled.map_err(|e| SourceError::Spec {
        source_name: name,
        reason: e.to_string(),
    })
}

/// Picks the backend base URL: configured, else the spec's server (resolved against the
/// spec URL when relative), else the spec URL's origin.
pub fn resolve_base_url(
    source: &SourceConfig,
    spec: &CompiledSpec,
    spec_uri: Option<&Url>,
) -> Result<Url, SourceError> {
    let err = |reason: String| SourceError::BaseUrl {
        source_name: source.name.clone(),
        reason,
    };
    if let Some(base) = &source.base_url {
        return Url::parse(base).map_err(|e| err(format!("invalid base_url `{base}`: {e}")));
    }
    let http_spec_uri = spec_uri.filter(|u| matches!(u.scheme(), "http" | "https"));
    match (&spec.base_url, http_spec_uri) {
        (Some(server), _) if Url::parse(server).is_ok() => Url::parse(server)
            .map_err(|e| err(format!("the spec's server URL `{server}` is invalid: {e}"))),
        (Some(server), Some(spec_url)) => spec_url.join(server).map_err(|e| {
            err(format!("cannot resolve the spec's relative server `{server}` against {spec_url}: {e}"))
        }),
        (Some(server), None) => Err(err(format!(
            "the spec's server URL `{server}` is relative and the spec was not loaded from a URL; pass --base-url (or set base_url) to the API's address"
        ))),
        (None, Some(spec_url)) => {
            let mut origin = spec_url.clone();
            origin.set_path("/");
            origin.set_query(None);
            origin.set_fragment(None);
            Ok(origin)
        }
        (None, None) => Err(err(
            "the spec names no server and was not loaded from a URL; pass --base-url (or set base_url) to the API's address".to_owned(),
        )),
    }
    .and_then(|u| {
        if matches!(u.scheme(), "http" | "https") {
            Ok(u)
        } else {
            Err(err(format!("base URL `{u}` must be http or https")))
        }
    })
}

/// The MCP tool definition of `op` with the given schemas (`op`'s own are not read: they
/// have moved into these `Arc`s, shared with the argument validator).
pub(crate) fn tool_of(
    op: &Operation,
    input: Arc<JsonObject>,
    output: Option<Arc<JsonObject>>,
) -> Tool {
    let mut tool = Tool::new(op.name.clone(), op.description.clone(), input);
    if let Some(out) = output {
        tool = tool.with_raw_output_schema(out);
    }
    if let Some(title) = &op.title {
        tool = tool.with_title(title.clone());
    }
    let a = &op.annotations;
    let mut ann = match &a.title {
        Some(t) => ToolAnnotations::with_title(t.clone()),
        None => ToolAnnotations::new(),
    };
    if let Some(v) = a.read_only {
        ann = ann.read_only(v);
    }
    if let Some(v) = a.destructive {
        ann = ann.destructive(v);
    }
    if let Some(v) = a.idempotent {
        ann = ann.idempotent(v);
    }
    if let Some(v) = a.open_world {
        ann = ann.open_world(v);
    }
    tool.with_annotations(ann)
}

/// The MCP resource definition of an operation served as the resource `uri`.
pub(crate) fn resource_of(
    uri: &str,
    name: String,
    description: String,
    title: Option<String>,
) -> Resource {
    let resource = Resource::new(uri.to_owned(), name)
        .with_description(description)
        .with_mime_type("application/json");
    match title {
        Some(t) => resource.with_title(t),
        None => resource,
    }
}

/// The MCP resource template definition of an operation served as `uri_template`.
pub(crate) fn template_of(
    uri_template: &str,
    name: String,
    description: String,
    title: Option<String>,
) -> ResourceTemplate {
    let template = ResourceTemplate::new(uri_template.to_owned(), name)
        .with_description(description)
        .with_mime_type("application/json");
    match title {
        Some(t) => template.with_title(t),
        None => template,
    }
}

/// A compiled source ready to register.
pub struct BuiltSource {
    /// Source name.
    pub name: String,
    /// The compiled spec (for diagnostics and `inspect`).
    pub spec: CompiledSpec,
    /// The backend base URL.
    pub base_url: Url,
    /// The backend.
    pub backend: HttpBackend,
    /// Which tools are served and how they look (`tools:` of the source).
    pub curation: toolgate_core::curation::ToolCuration,
}

/// Loads, compiles and connects one source.
pub async fn build_source(
    source: &SourceConfig,
    relative_to: &Path,
) -> Result<BuiltSource, SourceError> {
    let loaded = load_spec(&source.name, &source.spec, relative_to).await?;
    let spec_uri = loaded.base_uri.clone();
    let spec = compile_spec(source, loaded).await?;
    for d in &spec.diagnostics {
        match d.severity {
            Severity::Error => tracing::warn!(source = %source.name, "{d}"),
            Severity::Warning | Severity::Info => tracing::debug!(source = %source.name, "{d}"),
        }
    }
    let base_url = resolve_base_url(source, &spec, spec_uri.as_ref())?;
    if let Some(hint) = no_credentials_hint(source, &spec) {
        tracing::info!(source = %source.name, "{hint}");
    }
    let mut options = source.backend.clone();
    options.resolve_paths(relative_to);
    let backend = HttpBackend::new(base_url.clone(), spec.security_schemes.clone(), options)
        .map_err(|e| SourceError::Backend {
            source_name: source.name.clone(),
            reason: e.to_string(),
        })?;
    // The identity signing key's text: never printed, like the configuration's secrets.
    crate::redact::register(backend.secret_values());
    Ok(BuiltSource {
        name: source.name.clone(),
        spec,
        base_url,
        backend,
        curation: source.tools.clone(),
    })
}

/// Checks the hidden argument values of tool `tool` against its input schema: each must name
/// one of its arguments and match that argument's schema. Values are never quoted (they may
/// come from `${VAR}`: a tenant id, a key).
fn check_hidden_arguments(
    source: &str,
    tool: &str,
    hidden: &toolgate_core::curation::ArgumentValues,
    input_schema: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), SourceError> {
    let fail = |reason: String| SourceError::Spec {
        source_name: source.to_owned(),
        reason,
    };
    let properties = input_schema.get("properties").and_then(|p| p.as_object());
    for (kind, name, value) in hidden.entries() {
        let at = format!("tools.arguments.{tool}.{kind}.{name}");
        let Some(schema) = properties.and_then(|p| p.get(name)) else {
            let mut known: Vec<&str> = properties
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            known.sort_unstable();
            let hint = crate::config::did_you_mean(name, known.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(fail(format!(
                "{at}: tool `{tool}` has no argument `{name}`; {hint}its arguments: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        // The argument's schema, with the definitions its `$ref`s may point to.
        let mut schema = schema.clone();
        if let (Some(object), Some(defs)) = (schema.as_object_mut(), input_schema.get("$defs")) {
            object.entry("$defs").or_insert_with(|| defs.clone());
        }
        if let Ok(validator) = jsonschema::validator_for(&schema)
            && let Some(error) = validator.iter_errors(value).next()
        {
            return Err(fail(format!(
                "{at}: the value does not match the argument's schema (at `{}` of its schema); the value is not shown",
                error.schema_path()
            )));
        }
    }
    Ok(())
}

/// Says so when operations need credentials the source does not configure (the backend
/// would refuse them), and how to give them.
fn no_credentials_hint(source: &SourceConfig, spec: &CompiledSpec) -> Option<String> {
    let backend = &source.backend;
    let needing = spec
        .operations
        .iter()
        .filter(|o| !o.security.is_empty())
        .count();
    if needing == 0 || !backend.auth.is_empty() || backend.forward_authorization {
        return None;
    }
    let schemes: Vec<String> = spec
        .security_schemes
        .iter()
        .map(|s| format!("`{}`", s.name))
        .collect();
    Some(format!(
        "{needing} operations require credentials (security schemes {}) but the source has \
         none, so the backend will refuse them; give them with --username-env/--password-env \
         (OAuth2 password login), --bearer-token-env, --basic-auth-env or --api-key-env, or \
         `backend.auth` in a config (README: \"Backend auth for FastAPI\")",
        schemes.join(", ")
    ))
}

/// The catalog entries of a built source. The operations are moved out of the compiled spec
/// (which keeps its diagnostics and counts), so no schema is held twice.
pub fn contribution(built: &mut BuiltSource) -> Result<Contribution, SourceError> {
    let source_name: Arc<str> = Arc::from(built.name.as_str());
    let mut c = Contribution::empty(SourceEntry {
        name: source_name.clone(),
        probe: built.backend.readiness_probe(),
        control: None,
        capabilities: SourceCapabilities::default(),
    });
    let curation = &built.curation;
    let filter = toolgate_core::curation::Filter::new(&curation.allow, &curation.deny);
    let no_hidden = toolgate_core::curation::ArgumentValues::default();
    let mut hidden_for = std::collections::BTreeSet::new();
    let mut compiled_tools = Vec::new();
    for mut op in std::mem::take(&mut built.spec.operations) {
        if matches!(op.kind, ComponentKind::Tool) && !filter.admits(&op.name) {
            continue;
        }
        // The schemas move (not copy) into `Arc`s that the tool definition and the argument
        // validator share.
        let input_schema = Arc::new(std::mem::take(&mut op.input_schema));
        let output_schema = op.output_schema.take().map(Arc::new);
        let has_output_schema = output_schema.is_some();
        if matches!(op.kind, ComponentKind::Tool) {
            compiled_tools.push(op.name.clone());
        }
        let hidden = match (&op.kind, curation.arguments.get(&op.name)) {
            (ComponentKind::Tool, Some(hidden)) => {
                check_hidden_arguments(&built.name, &op.name, hidden, &input_schema)?;
                hidden_for.insert(op.name.clone());
                hidden
            }
            _ => &no_hidden,
        };
        let tool = matches!(op.kind, ComponentKind::Tool).then(|| {
            let tool = tool_of(&op, input_schema.clone(), output_schema);
            let served = curation.aliases.get(&op.name).unwrap_or(&op.name).clone();
            toolgate_core::curation::curate_tool(
                &tool,
                served,
                curation.descriptions.get(&op.name),
                hidden,
                curation.annotations.get(&op.name),
            )
        });
        let kind = op.kind.clone();
        let meta = toolgate_core::ToolMeta {
            tags: Arc::from(std::mem::take(&mut op.tags)),
            http_method: Some(op.method.as_str()),
            path: Some(Arc::from(op.path.as_str())),
        };
        let (name, description, title) =
            (op.name.clone(), op.description.clone(), op.title.clone());
        // The handler validates against the full schema, hidden arguments included.
        let handler = toolgate_core::curation::HiddenArguments::wrap(
            built
                .backend
                .tool_handler_sharing(Arc::new(op), input_schema, has_output_schema),
            hidden,
        );
        match &kind {
            ComponentKind::Tool => c.tools.push(ToolEntry {
                tool: tool.expect("built above for tools"),
                source: source_name.clone(),
                handler,
                meta,
            }),
            ComponentKind::Resource { uri } => c.resources.push(ResourceEntry {
                resource: resource_of(uri, name, description, title),
                source: source_name.clone(),
                handler,
            }),
            ComponentKind::ResourceTemplate { uri_template } => {
                let matcher = UriTemplate::parse(uri_template).map_err(|e| SourceError::Spec {
                    source_name: built.name.clone(),
                    reason: e.to_string(),
                })?;
                c.templates.push(TemplateEntry {
                    template: template_of(uri_template, name, description, title),
                    matcher,
                    source: source_name.clone(),
                    handler,
                });
            }
        }
    }
    // Hidden values for a tool this source does not serve would silently not be applied
    // (and the model would choose, say, the tenant id): refused.
    if let Some(unknown) = curation
        .arguments
        .keys()
        .find(|name| !hidden_for.contains(*name))
    {
        let hint = crate::config::did_you_mean(unknown, compiled_tools.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(SourceError::Spec {
            source_name: built.name.clone(),
            reason: format!(
                "tools.arguments.{unknown}: no tool of this source is named `{unknown}`{hint}; hidden argument values are keyed by the tool's name as compiled (before `aliases`); see `toolgate inspect`"
            ),
        });
    }
    Ok(c)
}
