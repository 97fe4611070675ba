//! `toolgate contract snapshot` and `toolgate contract diff`: the contract of what a
//! configuration or spec serves, and the comparison of two versions (docs/gate.md).
//!
//! The catalog is built with the code `serve` runs (`sources::load_spec`, `compile_spec`,
//! `contribution`, the `Assembly` that refuses duplicate names; MCP sources are started and
//! listed, then stopped), so a contract is exactly what clients would be served. It works
//! offline: no backend is called, and a spec without a usable server URL still gets a
//! contract (the base URL is not part of it). Remote specs are fetched as `inspect` does.
//!
//! The contract model, the diff rules and the renderers are `toolgate_contract`'s; this
//! module owns reading inputs (detecting snapshot, spec or configuration), the migrations
//! file, output and exit codes: 0 compatible, 1 breaking, 2 bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;
use toolgate_contract::{Contract, DiffReport, Migrations, render};
use toolgate_core::{Assembly, Catalog};
use toolgate_upstream::Upstream;
use url::Url;

use crate::cli::{ContractArgs, ContractCommand, DiffArgs, DiffFormat, SnapshotArgs};
use crate::config::{Config, OpenApiSourceConfig, SourceConfig, SpecLocation};
use crate::sources::{self, BuiltSource};
use crate::{Failure, redact, run};

/// The toolgate version written into snapshots.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The source name a bare spec gets (`serve --openapi`'s default `--name`).
const SPEC_SOURCE: &str = "api";

/// Runs `toolgate contract …`.
pub async fn run(args: ContractArgs) -> Result<ExitCode, Failure> {
    match args.command {
        ContractCommand::Snapshot(a) => snapshot(a).await,
        ContractCommand::Diff(a) => diff(a).await,
    }
}

/// What an input argument turned out to be.
enum Input {
    /// A contract snapshot (already read).
    Snapshot(Box<Contract>),
    /// An OpenAPI/Swagger document (file path or URL).
    Spec(String),
    /// A toolgate configuration file.
    Config(PathBuf),
}

async fn snapshot(args: SnapshotArgs) -> Result<ExitCode, Failure> {
    let input = match (&args.config, &args.openapi, &args.input) {
        (Some(path), _, _) => Input::Config(path.clone()),
        (None, Some(spec), _) => Input::Spec(spec.clone()),
        (None, None, Some(arg)) => detect(arg, "INPUT")?,
        (None, None, None) => {
            return Err(Failure::Input(
                "give a spec or configuration: `toolgate contract snapshot SPEC`, --openapi SPEC or --config FILE".into(),
            ));
        }
    };
    if matches!(input, Input::Snapshot(_)) {
        return Err(Failure::Input(
            "the input is already a contract snapshot; give the spec or configuration it was taken from".into(),
        ));
    }
    let contract = contract_of(input, args.label.clone(), args.namespace.as_deref()).await?;
    let text = contract.to_pretty_json();
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| {
                Failure::Input(format!(
                    "cannot write the snapshot to {}: {e}",
                    path.display()
                ))
            })?;
            redact::eprintln(&format!(
                "contract{}: {} tools, {} resources, {} resource templates, {} prompts, {} written to {}",
                contract
                    .label
                    .as_ref()
                    .map(|l| format!(" {l}"))
                    .unwrap_or_default(),
                contract.tools.len(),
                contract.resources.len(),
                contract.resource_templates.len(),
                contract.prompts.len(),
                contract.hash,
                path.display()
            ));
        }
        None => redact::println(text.trim_end()),
    }
    Ok(ExitCode::SUCCESS)
}

async fn diff(args: DiffArgs) -> Result<ExitCode, Failure> {
    // Everything that can be checked without loading specs first: bad input fails fast.
    let migrations = match &args.migrations {
        Some(path) => read_migrations(path)?,
        None => Migrations::default(),
    };
    let today = match &args.as_of {
        Some(date) if toolgate_contract::is_date(date) => date.clone(),
        Some(date) => {
            return Err(Failure::Input(format!(
                "--as-of `{date}` is not a date; write it as YYYY-MM-DD"
            )));
        }
        None => toolgate_contract::today_utc(),
    };
    let old = load(&args.old, "OLD", args.namespace.as_deref()).await?;
    let new = load(&args.new, "NEW", args.namespace.as_deref()).await?;
    let report: DiffReport = toolgate_contract::diff_with(&old, &new, &migrations, &today);
    let text = match args.format {
        DiffFormat::Text => render::text(&report),
        DiffFormat::Markdown => render::markdown(&report),
        DiffFormat::Json => render::json(&report),
    };
    redact::println(text.trim_end());
    Ok(if report.is_breaking() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The contract of a diff side; a spec or configuration is labelled with its argument.
pub(crate) async fn load(
    arg: &str,
    which: &str,
    namespace: Option<&str>,
) -> Result<Contract, Failure> {
    match detect(arg, which)? {
        Input::Snapshot(c) => Ok(*c),
        input => contract_of(input, Some(arg.to_owned()), namespace).await,
    }
}

/// Reads a migrations file (YAML or JSON) and checks every note.
pub(crate) fn read_migrations(path: &Path) -> Result<Migrations, Failure> {
    let where_ = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("cannot read migrations file {where_}: {e}")))?;
    let migrations: Migrations = serde_norway::from_str(&text).map_err(|e| {
        Failure::Input(format!(
            "migrations file {where_}: {e}\n  expected `migrations:` with a list of notes of `kind: rename | default | deprecation` (docs/gate.md, \"Migration notes\")"
        ))
    })?;
    migrations.validate().map_err(|e| {
        Failure::Input(format!(
            "migrations file {where_}:\n  {}",
            e.problems.join("\n  ")
        ))
    })?;
    Ok(migrations)
}

/// Decides what `arg` is: a URL is a spec; a file is a snapshot (a `format` of
/// `toolgate-contract/…`), a spec (`openapi` or `swagger`) or a configuration (`sources`).
fn detect(arg: &str, which: &str) -> Result<Input, Failure> {
    if arg.starts_with("http://") || arg.starts_with("https://") {
        return Ok(Input::Spec(arg.to_owned()));
    }
    let path = Path::new(arg);
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Input(format!("{which} `{arg}`: cannot read it: {e}")))?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let value: Value = if first == Some(&b'{') {
        serde_json::from_slice(&bytes)
            .map_err(|e| Failure::Input(format!("{which} `{arg}`: not valid JSON: {e}")))?
    } else {
        serde_norway::from_slice(&bytes)
            .map_err(|e| Failure::Input(format!("{which} `{arg}`: neither JSON nor YAML: {e}")))?
    };
    let Value::Object(map) = &value else {
        return Err(Failure::Input(format!(
            "{which} `{arg}`: expected a contract snapshot, an OpenAPI document or a toolgate configuration, found a {} at the top",
            kind_of(&value)
        )));
    };
    if Contract::is_snapshot(&value) {
        let contract = Contract::from_json(value)
            .map_err(|e| Failure::Input(format!("{which} `{arg}`: {e}")))?;
        return Ok(Input::Snapshot(Box::new(contract)));
    }
    if map.contains_key("openapi") || map.contains_key("swagger") {
        return Ok(Input::Spec(arg.to_owned()));
    }
    if map.contains_key("sources") {
        return Ok(Input::Config(path.to_path_buf()));
    }
    Err(Failure::Input(format!(
        "{which} `{arg}`: not a contract snapshot (no `format: {}`), an OpenAPI document (no `openapi` or `swagger` key) or a toolgate configuration (no `sources`)",
        toolgate_contract::FORMAT
    )))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// The contract of a spec or configuration.
async fn contract_of(
    input: Input,
    label: Option<String>,
    namespace: Option<&str>,
) -> Result<Contract, Failure> {
    let (config, relative_to) = match input {
        Input::Snapshot(c) => return Ok(*c),
        Input::Config(path) => (run::load_config_file(&path)?, run::parent_dir(&path)),
        Input::Spec(spec) => {
            redact::register_url(&spec);
            let mut config = crate::config::load("", "<contract>", &run::process_env())
                .map_err(|e| Failure::Input(e.to_string()))?;
            config.sources.push(SourceConfig::from(OpenApiSourceConfig {
                name: SPEC_SOURCE.to_owned(),
                spec: SpecLocation::Location(spec),
                base_url: None,
                compile: toolgate_openapi::CompileOptions {
                    namespace: namespace.map(str::to_owned),
                    ..Default::default()
                },
                backend: Default::default(),
                tools: Default::default(),
                tool_mode: Default::default(),
            }));
            (config, PathBuf::from("."))
        }
    };
    let catalog = catalog_of(&config, &relative_to).await?;
    Ok(Contract::from_catalog(&catalog, label, VERSION))
}

/// The catalog `serve` would serve for `config`, built without calling any backend.
async fn catalog_of(config: &Config, relative_to: &Path) -> Result<Arc<Catalog>, Failure> {
    if config.sources.is_empty() {
        return Err(Failure::Input(
            "nothing to snapshot: the configuration lists no `sources`".to_owned(),
        ));
    }
    let catalog = toolgate_core::catalog::shared(
        Catalog::builder()
            .page_size(config.limits.page_size)
            .build(),
    );
    let assembly = Assembly::new(catalog.clone(), config.limits.page_size);
    let mut upstreams = Vec::new();
    let outcome = async {
        for source in &config.sources {
            match source {
                SourceConfig::OpenApi(source) => {
                    let mut built = build_offline(source, relative_to).await?;
                    let contribution = sources::contribution(&mut built)
                        .map_err(|e| Failure::Input(e.to_string()))?;
                    if let Some(dup) = assembly.publish(contribution).into_iter().next() {
                        return Err(Failure::Input(dup.to_string()));
                    }
                }
                SourceConfig::Mcp(source) => {
                    let upstream = Upstream::new(
                        source.clone(),
                        relative_to,
                        assembly.clone(),
                        Default::default(),
                    )
                    .map_err(|e| Failure::Input(e.to_string()))?;
                    upstreams.push(upstream);
                }
            }
        }
        futures::future::join_all(upstreams.iter().map(Upstream::start)).await;
        for (upstream, source) in upstreams.iter().zip(config.sources.iter().filter_map(|s| match s {
            SourceConfig::Mcp(m) => Some(m),
            SourceConfig::OpenApi(_) => None,
        })) {
            let status = upstream.status();
            if status.phase == toolgate_upstream::Phase::Down {
                return Err(Failure::Input(format!(
                    "MCP source `{}` could not be started or listed ({}): its tools would be missing from the contract",
                    source.name,
                    status.last_error.unwrap_or_else(|| "no detail".into())
                )));
            }
        }
        Ok(())
    }
    .await;
    futures::future::join_all(upstreams.iter().map(Upstream::stop)).await;
    outcome?;
    Ok(catalog.load_full())
}

/// Loads and compiles an OpenAPI source as `sources::build_source` does, except that a
/// missing base URL is not an error: the contract does not contain it, and no call is made.
async fn build_offline(
    source: &OpenApiSourceConfig,
    relative_to: &Path,
) -> Result<BuiltSource, Failure> {
    let input = |e: sources::SourceError| Failure::Input(e.to_string());
    let loaded = sources::load_spec(&source.name, &source.spec, relative_to)
        .await
        .map_err(input)?;
    let spec_uri = loaded.base_uri.clone();
    let spec = sources::compile_spec(source, loaded).await.map_err(input)?;
    let skipped = spec
        .diagnostics
        .iter()
        .filter(|d| d.severity == toolgate_openapi::Severity::Error)
        .count();
    if skipped > 0 {
        redact::eprintln(&format!(
            "note: source `{}`: {skipped} operations are skipped by the compiler and are not part of the contract (`toolgate inspect` says why)",
            source.name
        ));
    }
    let base_url = match sources::resolve_base_url(source, &spec, spec_uri.as_ref()) {
        Ok(url) => url,
        // Never called: only the backend's construction needs an address.
        Err(_) => {
            Url::parse("http://base-url.invalid/").map_err(|e| Failure::Runtime(e.to_string()))?
        }
    };
    let mut options = source.backend.clone();
    options.resolve_paths(relative_to);
    let backend =
        toolgate_http::HttpBackend::new(base_url.clone(), spec.security_schemes.clone(), options)
            .map_err(|e| {
            Failure::Input(format!(
                "source `{}`: invalid backend options: {e}",
                source.name
            ))
        })?;
    redact::register(backend.secret_values());
    Ok(BuiltSource {
        name: source.name.clone(),
        spec,
        base_url,
        backend,
        curation: source.tools.clone(),
    })
}
