//! `toolgate reload --check --config FILE [--against RUNNING]`: what a reload of FILE would
//! do, without touching a running gateway. It loads and compiles FILE as a reload does (every
//! OpenAPI source built, the catalog checked for names taken twice, every upstream MCP
//! source's configuration, the authorization rules and rate limits compiled; no upstream is
//! started, no audit file opened, no backend probed), then, given the configuration in force
//! (`--against`), lists the sections and sources that would change and what would need a
//! restart. Exit codes: 0 a reload would apply it, 2 it would be refused (bad input).
//!
//! Does not own: the reload itself (crate::reload) or the comparison (crate::reload_diff).

use std::process::ExitCode;

use crate::Failure;
use crate::cli::ReloadArgs;
use crate::config::{Config, SourceConfig};
use crate::{redact, run, sources};

/// Runs `toolgate reload`.
pub async fn run(args: ReloadArgs) -> Result<ExitCode, Failure> {
    if !args.check {
        return Err(Failure::Input(
            "`toolgate reload` only checks a file for now: pass --check. To reload a running \
             gateway, send it SIGHUP (`kill -HUP <pid>`) or POST /admin/reload (docs/reload.md)"
                .to_owned(),
        ));
    }
    let config = run::load_config_file(&args.config)?;
    let tools = compile(&config, &run::parent_dir(&args.config)).await?;
    redact::println(&format!(
        "{}: a reload would apply it ({} source{}, {tools} tool{} from OpenAPI sources)",
        args.config.display(),
        config.sources.len(),
        if config.sources.len() == 1 { "" } else { "s" },
        if tools == 1 { "" } else { "s" },
    ));
    match &args.against {
        Some(against) => {
            let running = run::load_config_file(against)?;
            redact::println(&format!("compared with {}:", against.display()));
            for line in crate::reload_diff::diff(&running, &config).lines() {
                redact::println(&format!("  {line}"));
            }
        }
        None => redact::println(
            "  (pass --against <the configuration in force> to list what would change)",
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Compiles `config` as a reload does: the number of tools its OpenAPI sources serve, or
/// every reason the reload would be refused.
async fn compile(config: &Config, relative_to: &std::path::Path) -> Result<usize, Failure> {
    if config.sources.is_empty() {
        return Err(Failure::Input(
            "the configuration lists no source: a reload would serve nothing and is refused"
                .to_owned(),
        ));
    }
    let catalog = toolgate_core::catalog::shared(toolgate_core::Catalog::builder().build());
    let assembly = toolgate_core::Assembly::new(catalog, config.limits.page_size);
    let upstreams = crate::upstreams::RunningUpstreams::new(
        relative_to.to_path_buf(),
        assembly,
        Default::default(),
    );
    let mut problems = Vec::new();
    let mut contributions = Vec::new();
    for source in &config.sources {
        match source {
            SourceConfig::OpenApi(s) => match sources::build_source(s, relative_to).await {
                Ok(mut built) => match sources::contribution(&mut built) {
                    Ok(c) => contributions.push(c),
                    Err(e) => problems.push(e.to_string()),
                },
                Err(e) => problems.push(e.to_string()),
            },
            // Checked as a reload creates it; not started.
            SourceConfig::Mcp(s) => {
                if let Err(e) = upstreams.create(s) {
                    problems.push(e);
                }
            }
        }
    }
    let (catalog, dropped) =
        toolgate_core::assembly::build(&contributions, config.limits.page_size);
    problems.extend(dropped.iter().map(ToString::to_string));
    let metrics = toolgate_policy::Metrics::new();
    if let Err(e) = crate::policies::authorization(
        config,
        crate::policies::authentication_enabled(config),
        &metrics,
    ) {
        problems.push(e.to_string());
    }
    if config.rate_limits.is_enabled()
        && let Err(found) = toolgate_policy::limits::RateLimits::new(
            &config.rate_limits,
            &toolgate_policy::limits::LimitMetrics::default(),
        )
    {
        problems.extend(
            found
                .into_iter()
                .map(|p| format!("rate_limits.{}: {}", p.path, p.message)),
        );
    }
    if !problems.is_empty() {
        return Err(Failure::Input(format!(
            "a reload of this configuration would be refused ({} problem{}):\n{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    Ok(catalog.tools().len())
}
