//! `toolgate demo`: the built-in Todo API and the gateway in one process, so a new user can
//! see toolgate work with nothing else installed.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::Failure;
use crate::cli::DemoArgs;
use toolgate_policy::authz::EndpointSelect;
use toolgate_policy::authz::config::ToolSelector;

use crate::config::{
    self, EndpointConfig, OpenApiSourceConfig, SourceConfig, SpecLocation, ToolMode,
};
use crate::run::{assemble, init_logging, parse_addr, process_env, serve_http};

/// Runs the demo until interrupted.
pub async fn run(args: DemoArgs) -> Result<ExitCode, Failure> {
    let addr = parse_addr(&args.http)?;
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::Runtime(format!("cannot start the demo Todo API: {e}")))?;
    let api_addr = api_listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = todo_api::serve(api_listener).await {
            tracing::error!("demo Todo API stopped: {e}");
        }
    });

    let mut config =
        config::load("", "<demo>", &process_env()).map_err(|e| Failure::Input(e.to_string()))?;
    config.server.name = "toolgate-demo".to_owned();
    config.server.instructions = Some(
        "Tools of a Todo API: create users, then create, list, update, complete and delete their tasks.".to_owned(),
    );
    config.sources.push(SourceConfig::from(OpenApiSourceConfig {
        name: "todo".to_owned(),
        spec: SpecLocation::Inline {
            inline: todo_api::openapi(),
        },
        base_url: Some(format!("http://{api_addr}")),
        compile: Default::default(),
        backend: Default::default(),
        tools: Default::default(),
        tool_mode: None,
    }));
    config.endpoints = demo_endpoints();
    init_logging(&config);
    let assembled = assemble(&config, &PathBuf::from(".")).await?;
    let tools: Vec<String> = assembled
        .gateway
        .catalog()
        .load()
        .tools()
        .iter()
        .map(|t| t.tool.name.to_string())
        .collect();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "toolgate".to_owned());
    let stdio_config = json!({
        "mcpServers": { "toolgate-demo": { "command": exe, "args": ["demo", "--stdio"] } }
    });

    if args.stdio {
        // stdout carries the protocol: everything for people goes to stderr.
        eprintln!(
            "toolgate demo: Todo API at http://{api_addr}, {} tools, MCP on stdio",
            tools.len()
        );
        toolgate_server::serve_stdio(assembled.gateway.clone())
            .await
            .map_err(|e| Failure::Runtime(format!("stdio transport failed: {e}")))?;
        return Ok(ExitCode::SUCCESS);
    }

    let path = config.http.path.clone();
    let endpoints: Vec<(String, &str)> = config
        .endpoints
        .iter()
        .map(|e| {
            let what = match e.name.as_str() {
                "readonly" => "read-only tools, every one listed",
                _ => "every tool behind search_tools / describe_tool / call_tool",
            };
            (e.path(), what)
        })
        .collect();
    serve_http(assembled, &config, addr, |local| {
        let url = format!("http://{local}{path}");
        let http_config = json!({
            "mcpServers": { "toolgate-demo": { "type": "http", "url": url } }
        });
        let mut banner = String::new();
        banner.push_str("toolgate demo is running.\n\n");
        banner.push_str(&format!(
            "  Todo API (backend):  http://{api_addr}  (OpenAPI at /openapi.json)\n"
        ));
        banner.push_str(&format!("  MCP endpoint:        {url}\n"));
        for e in &endpoints {
            banner.push_str(&format!(
                "  Virtual server:      http://{local}{}  ({})\n",
                e.0, e.1
            ));
        }
        banner.push_str(&format!(
            "  Tools ({}):          {}\n",
            tools.len(),
            tools.join(", ")
        ));
        banner.push_str(&format!("  Metrics:             http://{local}/metrics\n"));
        banner.push_str("\nClient config for HTTP (Claude Code, Cursor, OpenClaw, ...):\n\n");
        banner.push_str(&serde_json::to_string_pretty(&http_config).unwrap_or_default());
        banner.push_str("\n\nClient config for stdio (Claude Desktop, ...):\n\n");
        banner.push_str(&serde_json::to_string_pretty(&stdio_config).unwrap_or_default());
        banner.push_str("\n\nPress Ctrl-C to stop.\n");
        // A closed stdout (e.g. piped into `head`) must not stop the server.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes());
        let _ = out.flush();
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's two virtual servers (docs/large-apis.md, "Virtual servers"): `/mcp/readonly`
/// serves only the read-only tools, every one listed; `/mcp/admin` serves every tool behind
/// the meta-tools. (With an `auth` section, `auth: {roles: [admin]}` would reserve the
/// second for admins: see the README.)
fn demo_endpoints() -> Vec<EndpointConfig> {
    let endpoint = |name: &str| EndpointConfig {
        name: name.to_owned(),
        path: None,
        server_name: None,
        instructions: None,
        select: None,
        exclude: None,
        tool_mode: None,
        pinned_tools: None,
        auth: Default::default(),
    };
    vec![
        EndpointConfig {
            select: Some(EndpointSelect {
                tools: Some(ToolSelector {
                    read_only: Some(true),
                    ..ToolSelector::default()
                }),
                ..EndpointSelect::default()
            }),
            tool_mode: Some(ToolMode::Full),
            instructions: Some(
                "Read-only tools of a Todo API: list and read users and their tasks.".to_owned(),
            ),
            ..endpoint("readonly")
        },
        EndpointConfig {
            tool_mode: Some(ToolMode::Meta),
            ..endpoint("admin")
        },
    ]
}
