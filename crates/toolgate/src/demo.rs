//! `toolgate demo`: the built-in Todo API and the gateway in one process, so a new user can
//! see toolgate work with nothing else installed.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::Failure;
use crate::cli::DemoArgs;
use crate::config::{self, OpenApiSourceConfig, SourceConfig, SpecLocation};
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
