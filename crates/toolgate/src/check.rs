//! `toolgate check-config FILE`: everything `serve` would check before serving, with one
//! verdict whose exit code matches it (0 valid, 2 invalid), printed once, after every check ran
//! and with every problem listed.
//!
//! Beyond `config::load`, each source's compile options (route-map regexes) and backend
//! options (header names, limits, media types) are checked without the spec, so
//! `--offline` checks them too; then the spec is loaded and compiled and the backend built as
//! `serve` does. `--offline` never uses the network: specs given as URLs are not fetched (and
//! remote `$ref`s not followed), local and inline ones are still compiled.
//!
//! This module does not serve anything and does not own source building (`crate::sources`).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use toolgate_http::{HttpBackend, HttpConfigError};
use toolgate_openapi::Severity;

use crate::Failure;
use crate::cli::CheckConfigArgs;
use crate::config::{ConfigErrors, ConfigIssue, OpenApiSourceConfig, SourceConfig, SpecLocation};
use crate::{redact, run, sources};

/// Base URL the backend options are checked with when the source names none and the spec
/// (which would give one) is not loaded: only its shape matters.
const PLACEHOLDER_BASE_URL: &str = "http://base-url.invalid/";

/// Runs `check-config`.
pub async fn run(args: CheckConfigArgs) -> Result<ExitCode, Failure> {
    let config = run::load_config_file(&args.file)?;
    let relative_to = run::parent_dir(&args.file);
    let mut issues = Vec::new();
    let mut report = Vec::new();
    // The tools of every source, while each source's tools are known.
    let mut tools: Option<Vec<String>> = Some(Vec::new());
    for (i, source) in config.sources.iter().enumerate() {
        match check_source(source, i, &relative_to, args.offline).await {
            Ok((line, names)) => {
                report.push(line);
                match (names, tools.as_mut()) {
                    (Some(names), Some(all)) => all.extend(names),
                    _ => tools = None,
                }
            }
            Err(found) => issues.extend(found),
        }
    }
    // Authentication as `serve` builds it: with the issuer's discovery document and keys
    // fetched, unless offline.
    if config.auth.is_some()
        && !args.offline
        && let Err(e) = run::build_resource_auth(&config).await
    {
        issues.extend(run::auth_issues(&e));
    }
    if let Some(section) = &config.authorization {
        report.extend(authorization_report(section, tools.as_deref()));
    }
    if !issues.is_empty() {
        return Err(Failure::Input(
            ConfigErrors {
                origin: args.file.display().to_string(),
                issues,
            }
            .to_string(),
        ));
    }
    redact::println(&format!(
        "{}: configuration is valid ({} source{})",
        args.file.display(),
        config.sources.len(),
        if config.sources.len() == 1 { "" } else { "s" }
    ));
    for line in report {
        redact::println(&format!("  {line}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `check-config` says about the `authorization` section: its size, and a warning for
/// each tool name or glob of a rule that matches no tool of the sources (a typo, or a tool
/// renamed since), when every source's tools are known (`tools`).
fn authorization_report(
    section: &toolgate_policy::authz::AuthorizationConfig,
    tools: Option<&[String]>,
) -> Vec<String> {
    let mut lines = vec![format!(
        "authorization: {} rule{}",
        section.rules.len(),
        if section.rules.len() == 1 { "" } else { "s" }
    )];
    // `config::load` compiled the rules already: errors cannot reach here.
    let Ok(policy) = toolgate_policy::authz::Policy::compile(section, false) else {
        return lines;
    };
    let Some(tools) = tools else {
        lines.push(
            "    (tool names of the rules not checked: some source's tools are only known when it runs)"
                .to_owned(),
        );
        return lines;
    };
    for (i, rule) in policy.rules().iter().enumerate() {
        let Some(names) = rule.tool_names() else {
            continue;
        };
        for (j, (text, matcher)) in names.iter().enumerate() {
            if !tools.iter().any(|t| matcher.is_match(t)) {
                lines.push(format!(
                    "    warning: authorization.rules[{i}].tools.names[{j}]: rule `{}`: `{text}` matches no tool of the sources (check the name: `toolgate inspect --config` lists them)",
                    rule.name
                ));
            }
        }
    }
    lines
}

/// Checks one source: its one-line report and, when known, the names of its tools; or its
/// problems.
async fn check_source(
    source: &SourceConfig,
    index: usize,
    relative_to: &Path,
    offline: bool,
) -> Result<(String, Option<Vec<String>>), Vec<ConfigIssue>> {
    let at = format!("sources[{index}]");
    let source = match source {
        SourceConfig::OpenApi(s) => s,
        SourceConfig::Mcp(m) => {
            // Its options were checked with the file; the server is not started here (run
            // `toolgate inspect --config` to connect to it and see what it serves).
            let how = match &m.transport {
                toolgate_upstream::config::Transport::Stdio { command, .. } => {
                    format!("stdio command `{command}`")
                }
                toolgate_upstream::config::Transport::Http { url, .. } => format!("HTTP {url}"),
            };
            return Ok((
                format!(
                    "source `{}`: MCP server ({how}); options valid, not started (`toolgate inspect --config` connects to it)",
                    m.name
                ),
                None,
            ));
        }
    };
    let problems = options_problems(source, &at);
    if !problems.is_empty() {
        // Building the source would stop at the same problems.
        return Err(problems);
    }
    let remote_spec = match &source.spec {
        SpecLocation::Location(loc) if is_url(loc) => Some(loc.as_str()),
        SpecLocation::Location(_) | SpecLocation::Inline { .. } => None,
    };
    if offline && let Some(url) = remote_spec {
        return Ok((
            format!(
                "source `{}`: options valid; spec {url} not fetched (--offline), so its operations, \
                 base URL and `auth` against its security schemes are not checked",
                source.name
            ),
            None,
        ));
    }
    let mut source = source.clone();
    let skipped_remote_refs = offline && source.compile.allow_remote_refs;
    if offline {
        source.compile.allow_remote_refs = false;
    }
    let built = sources::build_source(&source, relative_to)
        .await
        .map_err(|e| {
            vec![ConfigIssue {
                location: at.clone(),
                message: e.to_string(),
            }]
        })?;
    let skipped = built
        .spec
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let mut line = format!(
        "source `{}`: {} operations compiled, {skipped} skipped{}, backend {}",
        built.name,
        built.spec.operations.len(),
        if skipped_remote_refs {
            " (remote $refs not fetched: --offline)"
        } else {
            ""
        },
        built.base_url
    );
    for problem in toolgate_http::check_input_schemas(
        built
            .spec
            .operations
            .iter()
            .map(|op| (op.name.as_str(), &op.input_schema)),
    ) {
        line.push_str(&format!("\n    warning: {problem}"));
    }
    let tools = built
        .spec
        .operations
        .iter()
        .filter(|op| matches!(op.kind, toolgate_openapi::ComponentKind::Tool))
        .map(|op| op.name.clone())
        .collect();
    Ok((line, Some(tools)))
}

fn is_url(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// Problems of the source's compile and backend options that show without its spec: the
/// compiler's option checks (route-map regexes) run on an empty document, and the backend's
/// (header names and values, limits, media types) on the configured or a placeholder base URL.
/// `auth` is left to the full check: how it applies depends on the spec's security schemes.
fn options_problems(source: &OpenApiSourceConfig, at: &str) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let empty = json!({"openapi": "3.1.0", "info": {"title": "", "version": ""}, "paths": {}});
    if let Err(e) = toolgate_openapi::compile(
        &empty,
        None,
        &source.compile,
        &toolgate_openapi::NoExternalRefs,
    ) {
        issues.push(ConfigIssue {
            location: format!("{at}.compile"),
            message: e.to_string(),
        });
    }
    let base = source
        .base_url
        .as_deref()
        .and_then(|b| url::Url::parse(b).ok())
        .unwrap_or_else(|| url::Url::parse(PLACEHOLDER_BASE_URL).expect("valid placeholder"));
    let mut backend = source.backend.clone();
    backend.auth = Default::default();
    let location = format!("{at}.backend");
    match HttpBackend::new(base, Vec::new(), backend) {
        Ok(_) => {}
        Err(HttpConfigError::Invalid(problems)) => {
            issues.extend(problems.into_iter().map(|message| ConfigIssue {
                location: location.clone(),
                message,
            }))
        }
        Err(HttpConfigError::Client(reason)) => issues.push(ConfigIssue {
            location,
            message: format!("the HTTP client cannot be created: {reason}"),
        }),
    }
    issues
}
