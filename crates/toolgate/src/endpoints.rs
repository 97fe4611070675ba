//! Virtual servers: the configured `endpoints:` turned into views of the one catalog
//! (`toolgate_core::endpoint`), the gateways serving them, and their HTTP routes.
//!
//! The endpoints are fixed when the process starts: a reload updates what each serves (the
//! views are derived from whatever catalog is current) but not the set of endpoints, their
//! selections or their access rules (a change there is reported and needs a restart).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use toolgate_core::{EndpointAccess, EndpointView, ToolView};
use toolgate_server::{EdgeAuth, Gateway, HttpOptions, ServerIdentity};

use crate::Failure;
use crate::config::{Config, EndpointConfig};

/// One configured endpoint, ready to serve.
pub struct Endpoint {
    /// Its configuration.
    pub config: EndpointConfig,
    /// Its view of the catalog.
    pub view: Arc<EndpointView>,
    /// What `initialize` announces there.
    pub identity: ServerIdentity,
    /// Who may use it.
    pub access: EndpointAccess,
}

impl Endpoint {
    /// The gateway serving this endpoint: `main`'s pipeline and catalog, through the view.
    pub fn gateway(&self, main: &Gateway) -> Gateway {
        main.for_endpoint(self.view.clone(), self.identity.clone())
    }
}

/// The tool view of endpoint `e`: its own mode for all its tools, or the server's settings.
fn tool_view(config: &Config, e: &EndpointConfig) -> Option<Arc<ToolView>> {
    let server = config.tool_view();
    let Some(mode) = e.tool_mode else {
        return match (&e.pinned_tools, server) {
            (Some(pinned), Some(view)) => Some(Arc::new(ToolView {
                pinned: pinned.clone(),
                ..(*view).clone()
            })),
            (_, view) => view,
        };
    };
    let view = ToolView {
        mode,
        auto_threshold: config.server.auto_meta_threshold,
        pinned: e
            .pinned_tools
            .clone()
            .unwrap_or_else(|| config.server.pinned_tools.clone()),
        sources: Vec::new(),
    };
    view.may_use_meta().then(|| Arc::new(view))
}

/// Whether some endpoint may hide tools behind the meta-tools (the pipeline then needs its
/// meta layer even when the main endpoint lists every tool).
pub fn may_use_meta(config: &Config) -> bool {
    config
        .endpoints
        .iter()
        .any(|e| tool_view(config, e).is_some_and(|v| v.may_use_meta()))
}

/// Builds endpoint `e` of `config` (checked by `config::load`, so its selection compiles).
fn build(config: &Config, e: &EndpointConfig) -> Result<Endpoint, Failure> {
    let selection = toolgate_policy::authz::Selection::compile(
        e.select.as_ref(),
        e.exclude.as_ref(),
        &format!("endpoint `{}`", e.name),
    )
    .map_err(|errors| {
        Failure::Input(
            errors
                .into_iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    Ok(Endpoint {
        config: e.clone(),
        view: EndpointView::new(e.name.as_str(), Arc::new(selection), tool_view(config, e)),
        identity: ServerIdentity {
            name: e
                .server_name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", config.server.name, e.name)),
            instructions: e
                .instructions
                .clone()
                .or_else(|| config.server.instructions.clone()),
            ..ServerIdentity::default()
        },
        access: EndpointAccess {
            anonymous: e.auth.anonymous,
            scopes: e.auth.scopes.clone(),
            roles: e.auth.roles.clone(),
        },
    })
}

/// Every configured endpoint.
pub fn all(config: &Config) -> Result<Vec<Endpoint>, Failure> {
    config.endpoints.iter().map(|e| build(config, e)).collect()
}

/// The endpoint called `name` (for `--endpoint`), or what names exist.
pub fn named(config: &Config, name: &str) -> Result<Endpoint, Failure> {
    match config.endpoints.iter().find(|e| e.name == name) {
        Some(e) => build(config, e),
        None if config.endpoints.is_empty() => Err(Failure::Input(format!(
            "unknown endpoint `{name}`: the configuration has no `endpoints` section (see \
             docs/large-apis.md, \"Virtual servers\")"
        ))),
        None => Err(Failure::Input(format!(
            "unknown endpoint `{name}`; configured endpoints: {}",
            config
                .endpoints
                .iter()
                .map(|e| format!("`{}`", e.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Warns about each endpoint that serves nothing of the current catalog (a selection that
/// matches no tool, resource or prompt is most likely a mistake).
pub fn warn_if_empty(endpoints: &[Endpoint], main: &Gateway) {
    let catalog = main.catalog().load_full();
    for e in endpoints {
        let c = e.view.catalog(&catalog);
        if c.tools().is_empty()
            && c.resources().is_empty()
            && c.templates().is_empty()
            && c.prompts().is_empty()
        {
            tracing::warn!(
                endpoint = %e.config.name,
                "this endpoint's selection matches no tool, resource or prompt of the catalog: \
                 it serves nothing (check `select`/`exclude`; `toolgate inspect --endpoint {}`)",
                e.config.name
            );
        }
    }
}

/// The routes of every endpoint, to merge into the HTTP app beside the main endpoint.
pub fn routes(
    endpoints: &[Endpoint],
    main: &Gateway,
    options: &HttpOptions,
    auth: &EdgeAuth,
    shutdown: &CancellationToken,
) -> axum::Router {
    let mut router = axum::Router::new();
    for e in endpoints {
        let options = HttpOptions {
            path: e.config.path(),
            ..options.clone()
        };
        tracing::info!(
            endpoint = %e.config.name,
            path = %options.path,
            tools = e.view.catalog(&main.catalog().load_full()).tools().len(),
            "virtual server ready"
        );
        router = router.merge(toolgate_server::endpoint_router(
            e.gateway(main),
            &options,
            auth.clone(),
            shutdown.clone(),
            e.access.clone(),
        ));
    }
    router
}

/// Why a caller with `principal` is refused at endpoint `e` over HTTP (`authentication`:
/// whether `auth` is on), or `None` when it gets in (what `toolgate access --endpoint` says).
pub fn refusal(
    e: &Endpoint,
    principal: Option<&toolgate_core::Principal>,
    authentication: bool,
) -> Option<String> {
    if authentication && principal.is_none() && !e.access.anonymous {
        return Some(
            "a credential is required (the endpoint does not set `auth.anonymous: true`)"
                .to_owned(),
        );
    }
    e.access.refusal(principal)
}

/// Refuses to serve endpoint `e` over stdio when the stdio caller may not use it.
pub fn check_stdio_access(e: &Endpoint, main: &Gateway) -> Result<(), Failure> {
    match e.access.refusal(main.stdio_caller()) {
        None => Ok(()),
        Some(why) => Err(Failure::Input(format!(
            "endpoint `{}` cannot be served over stdio to the configured stdio principal: {why} \
             (set `auth.stdio` or `authorization.stdio_principal`)",
            e.config.name
        ))),
    }
}

/// `toolgate inspect --config FILE --endpoint NAME`: what the endpoint serves of the catalog
/// `serve` would build (sources loaded, MCP servers started and stopped again), how it lists
/// its tools and who may use it.
pub async fn inspect(
    path: &std::path::Path,
    name: &str,
    json: bool,
) -> Result<std::process::ExitCode, Failure> {
    let config = crate::run::load_config_file(path)?;
    let endpoint = named(&config, name)?;
    let assembled = crate::run::assemble(&config, &crate::run::parent_dir(path)).await?;
    let base = assembled.gateway.catalog().load_full();
    assembled.stop().await;
    let catalog = endpoint.view.catalog(&base);
    let direct: Option<&[usize]> = catalog.meta().map(|m| m.direct.as_slice());
    let listed = |i: usize| direct.is_none_or(|d| d.contains(&i));
    let access = &endpoint.access;
    let access_text = if access.anonymous {
        "callers without a credential are admitted (anonymous)".to_owned()
    } else if access.is_open() {
        "every caller the edge admits".to_owned()
    } else {
        let mut parts = Vec::new();
        if !access.scopes.is_empty() {
            parts.push(format!("the scopes [{}]", access.scopes.join(", ")));
        }
        if !access.roles.is_empty() {
            parts.push(format!("one of the roles [{}]", access.roles.join(", ")));
        }
        format!("callers holding {}", parts.join(" and "))
    };
    let tools: Vec<serde_json::Value> = catalog
        .tools()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "name": t.tool.name,
                "source": &*t.source,
                "read_only": t.tool.annotations.as_ref().and_then(|a| a.read_only_hint).unwrap_or(false),
                "listed": listed(i),
            })
        })
        .collect();
    let e = &endpoint.config;
    if json {
        let doc = serde_json::json!({
            "endpoint": e.name,
            "path": e.path(),
            "server_name": endpoint.identity.name,
            "instructions": endpoint.identity.instructions,
            "tool_mode": if direct.is_some() { "meta" } else { "full" },
            "access": {
                "anonymous": access.anonymous,
                "scopes": access.scopes,
                "roles": access.roles,
            },
            "tools": tools,
            "resources": catalog.resources().iter().map(|r| r.resource.uri.clone()).collect::<Vec<_>>(),
            "resource_templates": catalog.templates().iter().map(|t| t.template.uri_template.clone()).collect::<Vec<_>>(),
            "prompts": catalog.prompts().iter().map(|p| p.prompt.name.clone()).collect::<Vec<_>>(),
        });
        crate::redact::println(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let mut out = format!(
        "endpoint `{}` at {}\n  serverInfo.name: {}\n  access: {access_text}\n",
        e.name,
        e.path(),
        endpoint.identity.name
    );
    match direct {
        None => out.push_str(&format!(
            "  tools/list: every tool ({} of {} in the catalog)\n",
            catalog.tools().len(),
            base.tools().len()
        )),
        Some(d) => out.push_str(&format!(
            "  tools/list: search_tools, describe_tool, call_tool and {} tool(s) listed directly; {} behind the meta-tools\n",
            d.len(),
            catalog.tools().len() - d.len()
        )),
    }
    out.push_str(&format!("\ntools ({}):\n", catalog.tools().len()));
    let width = catalog
        .tools()
        .iter()
        .map(|t| t.tool.name.len())
        .max()
        .unwrap_or(0);
    for (i, t) in catalog.tools().iter().enumerate() {
        let read_only = t
            .tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        out.push_str(&format!(
            "  {:width$}  {:10}  {:9}  {}\n",
            t.tool.name,
            t.source,
            if read_only { "read-only" } else { "" },
            if listed(i) {
                "listed"
            } else {
                "via meta-tools"
            }
        ));
    }
    let resources = catalog.resources().len() + catalog.templates().len();
    if resources > 0 {
        out.push_str(&format!("\nresources ({resources}):\n"));
        for r in catalog.resources() {
            out.push_str(&format!("  {}\n", r.resource.uri));
        }
        for t in catalog.templates() {
            out.push_str(&format!("  {}\n", t.template.uri_template));
        }
    }
    if !catalog.prompts().is_empty() {
        out.push_str(&format!("\nprompts ({}):\n", catalog.prompts().len()));
        for p in catalog.prompts() {
            out.push_str(&format!("  {}\n", p.prompt.name));
        }
    }
    if catalog.tools().is_empty() && resources == 0 && catalog.prompts().is_empty() {
        out.push_str("\n(the selection matches nothing: check `select` and `exclude`)\n");
    }
    crate::redact::println(out.trim_end());
    Ok(std::process::ExitCode::SUCCESS)
}
