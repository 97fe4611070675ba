//! The compilation driver: walks `paths` in document order, applies selection and route maps
//! (and leaves out the login operation of an OAuth2 password flow, `security`), compiles each
//! operation (parameters, body, arguments and collisions, output, naming, kind, annotations,
//! security requirements) and turns a failure into an `Error` diagnostic that skips only that
//! operation.
//!
//! A big spec is compiled by two workers, each over half of the path items, when the machine
//! has a second core (the caller can say one thread, or force two: [`crate::Parallelism`]). The result is the one a single worker gives: operations and diagnostics
//! are joined in document order, tool names are assigned afterwards in that order, and the
//! second worker's `$defs` names are checked against the first's registry; if they differ (a
//! location that is not a component schema was named differently), the first worker compiles
//! the second half again itself.

use std::collections::HashMap;

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use crate::body::RawBodyKind;
use crate::ir::*;
use crate::naming::{Candidates, Namer};
use crate::options::{CompileOptions, OperationOverride, RouteTarget};
use crate::params::RawParam;
use crate::refs::{Doc, DocEntry, Externals, Loc, PointerExt, Registry, child};
use crate::routes::{Routes, resource_host};
use crate::schema::Mode;
use crate::security::{LoginRoutes, login_excluded_message, security_of};
use crate::{DocumentLoader, SpecError, swagger2};

/// Per-operation context for diagnostics.
pub(crate) struct OpCtx {
    /// `METHOD /path`.
    pub operation: String,
}

/// State of one compilation.
pub(crate) struct Compiler<'a> {
    pub opts: &'a CompileOptions,
    pub externals: &'a Externals<'a>,
    pub docs: Vec<DocEntry<'a>>,
    pub ext_index: HashMap<String, Result<usize, String>>,
    pub reg: Registry,
    pub patterns: HashMap<String, bool>,
    pub diagnostics: Vec<Diagnostic>,
    /// Bytes of `$defs` one tool schema may carry (see [`crate::refs::MAX_DEFS_BYTES`]).
    pub defs_budget: usize,
}

/// Operations from this many on are compiled by two workers (when there is a second core).
pub(crate) const PARALLEL_MIN_OPERATIONS: usize = 256;

thread_local! {
    /// Compilations this thread ran on two workers (see [`crate::two_worker_compiles`]).
    pub(crate) static TWO_WORKER_COMPILES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// What a worker leaves for the naming pass: tool names are unique across the spec, so they
/// are assigned once all operations are compiled, in document order.
struct NameRequest {
    names: Candidates,
    /// Where in the worker's diagnostics a renaming warning belongs.
    diag_at: usize,
    pointer: String,
    operation: String,
}

/// What one worker compiled.
struct Compiled {
    operations: Vec<(Operation, NameRequest)>,
    diagnostics: Vec<Diagnostic>,
}

/// What every worker needs besides its own compiler.
struct Shared<'d> {
    routes: &'d Routes,
    login: &'d LoginRoutes,
    doc_security: &'d [Vec<String>],
    host: &'d str,
    defs_budget: usize,
}

fn version_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 => format!("{f:.1}"),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

/// What selection decided for one operation.
enum Selection<'o> {
    /// Served as `RouteTarget`, with its tags and override.
    Served(RouteTarget, Vec<String>, Option<&'o OperationOverride>),
    /// Excluded by the route maps, tag filters or a hidden override.
    Excluded,
    /// The login operation of the password flow of this security scheme: not served unless
    /// asked for (an info diagnostic says why and how).
    Login(String),
}

/// Whether an operation is served, and as what.
fn select<'o>(
    routes: &Routes,
    login: &LoginRoutes,
    opts: &'o CompileOptions,
    op: &Value,
    method: HttpMethod,
    path: &str,
    operation: &str,
) -> Selection<'o> {
    let op_id = op.get("operationId").and_then(Value::as_str);
    let tags: Vec<String> = op
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let target = routes.target(opts, op_id, method, path, &tags);
    let ov = op_id
        .and_then(|id| opts.overrides.get(id))
        .or_else(|| opts.overrides.get(operation));
    if target == RouteTarget::Exclude || ov.is_some_and(|o| o.hidden) {
        return Selection::Excluded;
    }
    if let Some(scheme) = login.scheme_of(method, path) {
        let asked_for = opts.include_login_operation
            || op_id.is_some_and(|id| opts.include_operations.iter().any(|o| o == id));
        if !asked_for {
            return Selection::Login(scheme.to_owned());
        }
    }
    Selection::Served(target, tags, ov)
}

/// The `$defs` budget of one tool schema when the spec yields `tools` tools: an even share of
/// [`crate::refs::MAX_SPEC_DEFS_BYTES`] (two schemas per tool), between
/// [`crate::refs::MIN_DEFS_BYTES`] and [`crate::refs::MAX_DEFS_BYTES`].
fn defs_budget(tools: usize) -> usize {
    (crate::refs::MAX_SPEC_DEFS_BYTES / (2 * tools.max(1)))
        .clamp(crate::refs::MIN_DEFS_BYTES, crate::refs::MAX_DEFS_BYTES)
}

/// Compiles a parsed document (see [`crate::compile`]) on the threads `parallelism` allows.
pub(crate) fn compile(
    doc: &Value,
    base_uri: Option<&str>,
    opts: &CompileOptions,
    loader: &dyn DocumentLoader,
    parallelism: crate::Parallelism,
) -> Result<CompiledSpec, SpecError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| SpecError::NotOpenApi("the document root is not an object".to_owned()))?;
    let routes = Routes::new(opts)?;
    let converted;
    let (root, spec_version) = if let Some(v) = obj.get("openapi") {
        let v = version_string(v)
            .ok_or_else(|| SpecError::NotOpenApi("`openapi` is not a version string".into()))?;
        if !(v.starts_with("3.0") || v.starts_with("3.1") || v.starts_with("3.2")) {
            return Err(SpecError::NotOpenApi(format!(
                "OpenAPI version `{v}` is not supported (supported: 2.0, 3.0.x, 3.1.x)"
            )));
        }
        (doc, v)
    } else if let Some(v) = obj.get("swagger") {
        let v = version_string(v).unwrap_or_default();
        if v != "2.0" {
            return Err(SpecError::NotOpenApi(format!(
                "Swagger version `{v}` is not supported (supported: 2.0)"
            )));
        }
        converted = swagger2::convert(doc)?;
        (&converted, v)
    } else {
        return Err(SpecError::NotOpenApi(
            "the document has neither an `openapi` nor a `swagger` version field".to_owned(),
        ));
    };
    if let Some(p) = root.get("paths")
        && !p.is_object()
    {
        return Err(SpecError::Invalid {
            pointer: "#/paths".into(),
            message: "`paths` must be an object mapping path templates to path items".into(),
        });
    }
    let externals = Externals::new(loader);
    let mut c = Compiler::new(opts, &externals, root, base_uri);
    let info = root.get("info");
    let title = info
        .and_then(|i| i.get("title"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let version = info
        .and_then(|i| i.get("version"))
        .and_then(version_string)
        .unwrap_or_default();
    let base_url = root.get("servers").and_then(server_url);
    let security_schemes = c.security_schemes();
    let doc_security = root.get("security").map(security_of).unwrap_or_default();
    let login = LoginRoutes::new(&security_schemes, base_url.as_deref());
    let host = resource_host(opts.namespace.as_deref(), &title);
    let empty = Map::new();
    let paths = root
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let keys: Vec<&str> = paths
        .keys()
        .map(String::as_str)
        .filter(|p| !p.starts_with("x-"))
        .collect();
    // The per-tool `$defs` budget depends on how many tools the spec yields.
    let selected = c.selected_per_path(&routes, &login, &keys);
    let total: usize = selected.iter().sum();
    c.defs_budget = defs_budget(total);
    let shared = Shared {
        routes: &routes,
        login: &login,
        doc_security: &doc_security,
        host: &host,
        defs_budget: c.defs_budget,
    };
    let two_workers = keys.len() >= 2
        && match parallelism {
            crate::Parallelism::Auto => {
                total >= PARALLEL_MIN_OPERATIONS
                    && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
            }
            crate::Parallelism::One => false,
            crate::Parallelism::Two => true,
        };
    let compiled = if two_workers {
        TWO_WORKER_COMPILES.with(|n| n.set(n.get() + 1));
        // Split where half of the selected operations are behind.
        let mut behind = 0;
        let split = selected
            .iter()
            .position(|n| {
                behind += n;
                2 * behind >= total
            })
            .map_or(keys.len() / 2, |i| i + 1)
            .clamp(1, keys.len() - 1);
        let (first, second) = keys.split_at(split);
        let (mut mine, theirs) = std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                let mut w = Compiler::new(opts, &externals, root, base_uri);
                w.defs_budget = shared.defs_budget;
                let compiled = w.compile_paths(&shared, second);
                (compiled, w.named_defs())
            });
            let mine = c.compile_paths(&shared, first);
            let theirs = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (mine, theirs)
        });
        let (theirs, names) = theirs;
        if c.agrees_on_names(&names) {
            mine.join(theirs);
        } else {
            mine.join(c.compile_paths(&shared, second));
        }
        mine
    } else {
        c.compile_paths(&shared, &keys)
    };
    let mut diagnostics = std::mem::take(&mut c.diagnostics);
    let operations = name_operations(opts, compiled, &mut diagnostics);
    Ok(CompiledSpec {
        title,
        version,
        spec_version,
        base_url,
        security_schemes,
        operations,
        diagnostics,
    })
}

impl Compiled {
    /// Appends what the worker after this one compiled.
    fn join(&mut self, next: Compiled) {
        let offset = self.diagnostics.len();
        self.operations
            .extend(next.operations.into_iter().map(|(op, mut req)| {
                req.diag_at += offset;
                (op, req)
            }));
        self.diagnostics.extend(next.diagnostics);
    }
}

/// Assigns tool names in document order; a renaming warning goes where the operation's
/// diagnostics are. `before` holds the diagnostics from before the operations were compiled.
fn name_operations(
    opts: &CompileOptions,
    compiled: Compiled,
    before: &mut Vec<Diagnostic>,
) -> Vec<Operation> {
    let mut namer = Namer::new(opts.max_name_length);
    let mut worker_diags = compiled.diagnostics.into_iter().enumerate().peekable();
    let mut operations = Vec::with_capacity(compiled.operations.len());
    let candidates: Vec<Candidates> = compiled
        .operations
        .iter()
        .map(|(_, req)| req.names.clone())
        .collect();
    let names = namer.assign_all(opts.namespace.as_deref(), &candidates);
    for ((mut op, req), (name, why)) in compiled.operations.into_iter().zip(names) {
        op.name = name;
        operations.push(op);
        if let Some(why) = why {
            while let Some((_, d)) = worker_diags.next_if(|(i, _)| *i < req.diag_at) {
                before.push(d);
            }
            before.push(Diagnostic {
                severity: Severity::Warning,
                pointer: req.pointer,
                operation: Some(req.operation),
                message: why,
            });
        }
    }
    before.extend(worker_diags.map(|(_, d)| d));
    operations
}

impl<'a> Compiler<'a> {
    /// A compiler for the document `root` (the root document of the compilation).
    fn new(
        opts: &'a CompileOptions,
        externals: &'a Externals<'a>,
        root: &'a Value,
        base_uri: Option<&str>,
    ) -> Self {
        let mut c = Compiler {
            opts,
            externals,
            docs: vec![DocEntry {
                uri: base_uri.map(str::to_owned),
                doc: Doc::Borrowed(root),
            }],
            ext_index: HashMap::new(),
            reg: Registry::default(),
            patterns: HashMap::new(),
            diagnostics: Vec::new(),
            defs_budget: crate::refs::MAX_DEFS_BYTES,
        };
        c.reserve_component_names();
        c
    }

    /// How many operations of each path item are served.
    fn selected_per_path(
        &mut self,
        routes: &Routes,
        login: &LoginRoutes,
        keys: &[&str],
    ) -> Vec<usize> {
        let opts = self.opts;
        keys.iter()
            .map(|path| {
                let Ok(loc) = self.follow((0, child("/paths", path))) else {
                    return 0;
                };
                let d = self.doc(loc.0);
                let Some(item) = d.ptr(&loc.1).and_then(Value::as_object) else {
                    return 0;
                };
                HttpMethod::ALL
                    .into_iter()
                    .filter(|method| {
                        item.get(method.key()).is_some_and(|op| {
                            let operation = format!("{method} {path}");
                            matches!(
                                select(routes, login, opts, op, *method, path, &operation),
                                Selection::Served(..)
                            )
                        })
                    })
                    .count()
            })
            .collect()
    }

    /// Compiles the operations of the path items `keys`, in order.
    fn compile_paths(&mut self, shared: &Shared<'_>, keys: &[&str]) -> Compiled {
        let opts = self.opts;
        let mut operations = Vec::new();
        let diag_start = self.diagnostics.len();
        for &path in keys {
            let item_ptr = child("/paths", path);
            let item_loc = match self.follow((0, item_ptr.clone())) {
                Ok(l) => l,
                Err(e) => {
                    self.diagnostics.push(Diagnostic {
                        severity: Severity::Error,
                        pointer: format!("#{item_ptr}"),
                        operation: None,
                        message: format!("path item skipped: {e}"),
                    });
                    continue;
                }
            };
            let item_doc = self.doc(item_loc.0);
            let Some(item) = item_doc.ptr(&item_loc.1).and_then(Value::as_object) else {
                continue;
            };
            for method in HttpMethod::ALL {
                let Some(op) = item.get(method.key()) else {
                    continue;
                };
                let pointer = format!("#{}", child(&item_ptr, method.key()));
                let ctx = OpCtx {
                    operation: format!("{method} {path}"),
                };
                let op_id = op.get("operationId").and_then(Value::as_str);
                let (target, tags, ov) = match select(
                    shared.routes,
                    shared.login,
                    opts,
                    op,
                    method,
                    path,
                    &ctx.operation,
                ) {
                    Selection::Served(target, tags, ov) => (target, tags, ov),
                    Selection::Excluded => continue,
                    Selection::Login(scheme) => {
                        self.diagnostics.push(Diagnostic {
                            severity: Severity::Info,
                            pointer,
                            operation: Some(ctx.operation),
                            message: login_excluded_message(&scheme, op_id),
                        });
                        continue;
                    }
                };
                let input = OpInput {
                    path,
                    method,
                    pointer: &pointer,
                    item_loc: &item_loc,
                    op_loc: (item_loc.0, child(&item_loc.1, method.key())),
                    op,
                    item,
                    op_id,
                    tags,
                    target,
                    ov,
                    doc_security: shared.doc_security,
                    host: shared.host,
                };
                match self.compile_operation(&ctx, input) {
                    Ok(mut o) => {
                        // An empty name: none was given, derive one.
                        let names = if o.name.is_empty() {
                            Candidates::derived(
                                o.operation_id.as_deref(),
                                path,
                                method.key(),
                                &o.tags,
                            )
                        } else {
                            Candidates::explicit(std::mem::take(&mut o.name), path, method.key())
                        };
                        let req = NameRequest {
                            names,
                            diag_at: self.diagnostics.len() - diag_start,
                            pointer,
                            operation: ctx.operation,
                        };
                        operations.push((o, req));
                    }
                    Err(e) => self.diagnostics.push(Diagnostic {
                        severity: Severity::Error,
                        pointer,
                        operation: Some(ctx.operation),
                        message: format!("operation skipped: {e}"),
                    }),
                }
            }
        }
        Compiled {
            operations,
            diagnostics: self.diagnostics.split_off(diag_start),
        }
    }
}

/// What the driver knows about one operation before compiling it.
struct OpInput<'x> {
    path: &'x str,
    method: HttpMethod,
    pointer: &'x str,
    item_loc: &'x Loc,
    op_loc: Loc,
    op: &'x Value,
    item: &'x Map<String, Value>,
    op_id: Option<&'x str>,
    tags: Vec<String>,
    target: RouteTarget,
    ov: Option<&'x OperationOverride>,
    doc_security: &'x [Vec<String>],
    host: &'x str,
}

/// Path template variables, in order.
fn path_vars(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

/// `servers[0].url` with variables replaced by their defaults.
fn server_url(servers: &Value) -> Option<String> {
    let s = servers.as_array()?.first()?;
    let mut url = s.get("url")?.as_str()?.to_owned();
    if let Some(vars) = s.get("variables").and_then(Value::as_object) {
        for (k, v) in vars {
            if let Some(d) = v.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{k}}}"), d);
            }
        }
    }
    Some(url)
}

/// Cuts a description to `max` characters at a word boundary, ending with `…`.
pub(crate) fn cut_description(s: &str, max: usize) -> String {
    let s = s.trim();
    if max == 0 || s.chars().count() <= max {
        return s.to_owned();
    }
    let keep: String = s.chars().take(max.saturating_sub(1)).collect();
    let at = keep
        .rfind(char::is_whitespace)
        .filter(|&i| i >= keep.len() / 2)
        .unwrap_or(keep.len());
    format!("{}…", keep[..at].trim_end())
}

/// The warning for a tool schema whose `$defs` reached [`crate::refs::MAX_DEFS_BYTES`].
fn defs_budget_warning(which: &str, built: &crate::refs::BuiltDefs) -> String {
    format!(
        "{which} schema too large: {} of the {} definitions it references are not expanded (limit {} KiB of `$defs` per tool schema in this spec); references to them accept any value of their type",
        built.cut,
        built.total,
        built.budget / 1024
    )
}

impl Compiler<'_> {
    /// Records a warning about an operation.
    pub(crate) fn warn(&mut self, ctx: &OpCtx, ptr: &str, message: String) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            pointer: if ptr.starts_with('#') {
                ptr.to_owned()
            } else {
                format!("#{ptr}")
            },
            operation: Some(ctx.operation.clone()),
            message,
        });
    }

    fn compile_operation(&mut self, ctx: &OpCtx, inp: OpInput<'_>) -> Result<Operation, String> {
        let opts = self.opts;
        let OpInput {
            path,
            method,
            pointer,
            item_loc,
            op_loc,
            op,
            item,
            op_id,
            tags,
            target,
            ov,
            doc_security,
            host,
        } = inp;
        if !op.is_object() {
            return Err("the operation is not an object".to_owned());
        }
        let mut deps = IndexSet::new();

        // Parameters.
        let mut raw: Vec<RawParam> = Vec::new();
        for loc in self.merged_param_locs(item_loc, &op_loc)? {
            if let Some(p) = self.compile_param(ctx, &loc, &mut deps)? {
                raw.push(p);
            }
        }
        for var in path_vars(path) {
            if !raw
                .iter()
                .any(|p| p.location == ParamLocation::Path && p.name == var)
            {
                self.warn(
                    ctx,
                    pointer,
                    format!("path variable `{var}` is not declared as a parameter; assuming a required string"),
                );
                raw.push(RawParam {
                    name: var.to_owned(),
                    location: ParamLocation::Path,
                    required: true,
                    style: ParamStyle::Simple,
                    explode: false,
                    allow_reserved: false,
                    content_type: None,
                    schema: serde_json::json!({"type": "string"}),
                });
            }
        }

        // Body.
        let body = if op.get("requestBody").is_some() {
            let loc = self.follow((op_loc.0, child(&op_loc.1, "requestBody")))?;
            self.compile_body(&loc, &mut deps)?
        } else {
            None
        };

        // Arguments and collisions: body properties keep their names; a parameter whose name
        // is also a body argument or a parameter in another location becomes `<name>__<in>`.
        let body_names: IndexSet<&str> = match body.as_ref().map(|b| &b.kind) {
            Some(RawBodyKind::Properties(props)) => props.keys().map(String::as_str).collect(),
            Some(RawBodyKind::Whole { .. }) => ["body"].into_iter().collect(),
            None => IndexSet::new(),
        };
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut params = Vec::with_capacity(raw.len());
        let mut taken: IndexSet<String> = body_names.iter().map(|s| (*s).to_owned()).collect();
        for p in &raw {
            let collides = body_names.contains(p.name.as_str())
                || raw
                    .iter()
                    .any(|q| q.name == p.name && q.location != p.location);
            let mut arg = if collides {
                format!("{}__{}", p.name, p.location.as_str())
            } else {
                p.name.clone()
            };
            let base = arg.clone();
            let mut n = 2;
            while taken.contains(&arg) {
                arg = format!("{base}_{n}");
                n += 1;
            }
            taken.insert(arg.clone());
            properties.insert(arg.clone(), p.schema.clone());
            if p.required {
                required.push(Value::String(arg.clone()));
            }
            params.push(Param {
                arg,
                name: p.name.clone(),
                location: p.location,
                required: p.required,
                style: p.style,
                explode: p.explode,
                allow_reserved: p.allow_reserved,
                content_type: p.content_type.clone(),
            });
        }
        let body = body.map(|b| {
            let mode = match b.kind {
                RawBodyKind::Properties(props) => {
                    let mut fields = Vec::with_capacity(props.len());
                    for (name, (schema, req)) in props {
                        properties.insert(name.clone(), schema);
                        if req {
                            required.push(Value::String(name.clone()));
                        }
                        fields.push((name.clone(), name));
                    }
                    BodyMode::Properties { fields }
                }
                RawBodyKind::Whole { schema } => {
                    properties.insert("body".to_owned(), schema);
                    if b.required {
                        required.push("body".into());
                    }
                    BodyMode::Whole {
                        arg: "body".to_owned(),
                    }
                }
            };
            Body {
                content_type: b.content_type,
                required: b.required,
                mode,
                file_fields: b.file_fields,
                part_content_types: b.part_content_types,
            }
        });
        let mut input_schema = Map::new();
        input_schema.insert("type".into(), "object".into());
        input_schema.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            input_schema.insert("required".into(), Value::Array(required.clone()));
        }
        let built = self.add_defs(&mut input_schema, &deps, Mode::Input, usize::MAX)?;
        if built.cut > 0 {
            self.warn(ctx, pointer, defs_budget_warning("input", &built));
        }

        // Output: a problem here degrades to "no output schema", not a skipped tool.
        let mut out_deps = IndexSet::new();
        let mut out_warning = None;
        let (output_schema, output_wrap) = match self
            .compile_output(&op_loc, &mut out_deps)
            .and_then(|o| match o {
                Some(mut o) => {
                    let cap = match self.opts.max_output_schema_defs_bytes {
                        0 => usize::MAX,
                        n => n,
                    };
                    let built = self.add_defs(&mut o.schema, &out_deps, Mode::Output, cap)?;
                    // Trimming to the configured output cap is policy, not a problem: only
                    // cuts forced by the spec-wide budget are reported.
                    if built.cut > 0 && built.budget == self.defs_budget {
                        out_warning = Some(defs_budget_warning("output", &built));
                    }
                    Ok(Some(o))
                }
                None => Ok(None),
            }) {
            Ok(Some(o)) => {
                if let Some(w) = out_warning {
                    self.warn(ctx, &format!("{pointer}/responses"), w);
                }
                (Some(o.schema), o.wrap)
            }
            Ok(None) => (None, None),
            Err(e) => {
                self.warn(
                    ctx,
                    &format!("{pointer}/responses"),
                    format!("no output schema: {e}"),
                );
                (None, None)
            }
        };

        // Name.
        let base = op_id
            .and_then(|id| opts.names.get(id).cloned())
            .or_else(|| ov.and_then(|o| o.name.clone()))
            .or_else(|| {
                op.get("x-mcp-name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        // An explicit name, or empty; the name proper is assigned once every operation is
        // compiled, from the operation's id and tags when empty (see `name_operations`).
        let name = base;

        // Kind.
        let kind =
            self.component_kind(ctx, pointer, target, method, path, &params, &required, host);

        // Texts.
        let text = |k: &str| {
            op.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let summary = text("summary").map(str::to_owned);
        let title = ov.and_then(|o| o.title.clone()).or_else(|| summary.clone());
        let raw_desc = ov
            .and_then(|o| o.description.clone())
            .filter(|d| !d.trim().is_empty())
            .or_else(|| text("description").map(str::to_owned))
            .or_else(|| summary.clone())
            .unwrap_or_else(|| format!("{method} {path}"));
        let mut description = cut_description(&raw_desc, opts.max_description_length);
        if description.is_empty() {
            description = format!("{method} {path}");
        }

        let read_only = matches!(
            method,
            HttpMethod::Get | HttpMethod::Head | HttpMethod::Options | HttpMethod::Trace
        );
        let annotations = Annotations {
            title: title.clone(),
            read_only: ov.and_then(|o| o.read_only).or(Some(read_only)),
            destructive: ov.and_then(|o| o.destructive).or(match method {
                HttpMethod::Delete => Some(true),
                HttpMethod::Put | HttpMethod::Post | HttpMethod::Patch => Some(false),
                _ => None,
            }),
            idempotent: ov.and_then(|o| o.idempotent).or(Some(!matches!(
                method,
                HttpMethod::Post | HttpMethod::Patch
            ))),
            open_world: ov.and_then(|o| o.open_world),
        };

        let security = match op.get("security") {
            Some(s) => security_of(s),
            None => doc_security.to_vec(),
        };
        let server_url = op
            .get("servers")
            .and_then(server_url)
            .or_else(|| item.get("servers").and_then(server_url));

        Ok(Operation {
            name,
            kind,
            operation_id: op_id.map(str::to_owned),
            method,
            path: path.to_owned(),
            pointer: pointer.to_owned(),
            server_url,
            title,
            description,
            tags,
            deprecated: op.get("deprecated") == Some(&Value::Bool(true)),
            params,
            body,
            input_schema,
            output_schema,
            output_wrap,
            annotations,
            security,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn component_kind(
        &mut self,
        ctx: &OpCtx,
        pointer: &str,
        target: RouteTarget,
        method: HttpMethod,
        path: &str,
        params: &[Param],
        required: &[Value],
        host: &str,
    ) -> ComponentKind {
        if target != RouteTarget::Resource {
            return ComponentKind::Tool;
        }
        let scheme = &self.opts.resource_scheme;
        if method != HttpMethod::Get {
            self.warn(
                ctx,
                pointer,
                "route map says resource, but only GET operations can be resources; served as a tool".to_owned(),
            );
            return ComponentKind::Tool;
        }
        if required.is_empty() {
            return ComponentKind::Resource {
                uri: format!("{scheme}://{host}{path}"),
            };
        }
        let path_args: IndexMap<&str, &str> = params
            .iter()
            .filter(|p| p.location == ParamLocation::Path)
            .map(|p| (p.name.as_str(), p.arg.as_str()))
            .collect();
        let only_path = required
            .iter()
            .filter_map(Value::as_str)
            .all(|r| path_args.values().any(|a| *a == r));
        if only_path {
            let mut t = String::new();
            let mut rest = path;
            while let Some(start) = rest.find('{') {
                t.push_str(&rest[..start]);
                let after = &rest[start + 1..];
                let Some(end) = after.find('}') else { break };
                let var = &after[..end];
                t.push('{');
                t.push_str(path_args.get(var).copied().unwrap_or(var));
                t.push('}');
                rest = &after[end + 1..];
            }
            t.push_str(rest);
            return ComponentKind::ResourceTemplate {
                uri_template: format!("{scheme}://{host}{t}"),
            };
        }
        self.warn(
            ctx,
            pointer,
            "route map says resource, but the operation has required arguments besides path parameters; served as a tool".to_owned(),
        );
        ComponentKind::Tool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_cut_at_word_boundary() {
        assert_eq!(cut_description("hello wonderful world", 12), "hello…");
        assert_eq!(cut_description("short", 0), "short");
        assert_eq!(cut_description("short", 10), "short");
        assert!(cut_description("abcdefghijklmnop", 5).chars().count() <= 5);
    }

    #[test]
    fn path_vars_in_order() {
        assert_eq!(path_vars("/a/{x}/b/{y}.json"), vec!["x", "y"]);
    }
}
