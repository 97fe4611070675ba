//! Compiles every OpenAPI/Swagger document under some folders and reports, per spec and in
//! total, how many operations compiled, which were skipped and why, how long it took, and whether
//! the compiler panicked, hung or emitted a schema that does not compile as JSON Schema.
//!
//! ```text
//! cargo run --release -p toolgate-openapi --example corpus -- \
//!     --out DIR [--vendors FILE] [--timeout SECS] [--no-validate] PATH...
//! ```
//!
//! Each `PATH` is a spec file or a folder walked recursively for `*.json`, `*.yaml`, `*.yml`.
//! Files that parse but are not OpenAPI 2.0/3.x documents (external `$ref` targets, package
//! metadata) are counted as fragments and otherwise ignored. External `$ref`s are loaded from
//! files relative to the referring document, confined to the folder of the root spec's
//! top-level `PATH` argument. Every spec runs in its own thread under a timeout with panics
//! caught, so one bad spec never stops the run.
//!
//! Writes `DIR/specs.jsonl` (one JSON line per spec, as soon as it is done), `DIR/report.json`
//! (totals plus every spec line) and `DIR/report.md` (totals, skip reasons, slowest specs and the
//! table of the named vendors). `--vendors FILE` has one `Label|path` line per named spec (path as
//! given on the command line joined with the file's relative path, or any suffix of it).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use toolgate_openapi::{
    CompileOptions, DocumentLoader, Severity, SpecError, compile, parse_document,
};

/// Loads `file://` URIs, confined to one folder.
struct FolderLoader {
    root: PathBuf,
}

impl DocumentLoader for FolderLoader {
    fn load(&self, uri: &str) -> Result<Value, String> {
        let url = url::Url::parse(uri).map_err(|e| format!("bad URI `{uri}`: {e}"))?;
        if url.scheme() != "file" {
            return Err(format!(
                "remote reference `{uri}` not loaded in the corpus run"
            ));
        }
        let path = url
            .to_file_path()
            .map_err(|()| format!("`{uri}` is not a file path"))?;
        let path = path
            .canonicalize()
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), e.kind()))?;
        if !path.starts_with(&self.root) {
            return Err(format!("`{uri}` is outside `{}`", self.root.display()));
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read `{uri}`: {e}"))?;
        parse_document(&bytes).map_err(|e| e.to_string())
    }
}

#[derive(Default)]
struct Outcome {
    spec_version: String,
    title: String,
    operations: usize,
    skipped: usize,
    warnings: usize,
    reasons: BTreeMap<String, usize>,
    warning_reasons: BTreeMap<String, usize>,
    skipped_examples: Vec<String>,
    error: Option<String>,
    fragment: bool,
    parse_ms: f64,
    compile_ms: f64,
    validate_ms: f64,
    schemas_checked: usize,
    schemas_invalid: usize,
    invalid_examples: Vec<String>,
}

/// Replaces the specific parts of a diagnostic (names in backticks, quoted strings, pointers,
/// numbers) with `…`, so diagnostics can be grouped by kind.
fn reason_kind(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' | '"' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push_str("`…`");
            }
            '#' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|d| !d.is_whitespace()) {
                    chars.next();
                }
                out.push('…');
            }
            c if c.is_ascii_digit() => {
                while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    chars.next();
                }
                out.push('N');
            }
            c => out.push(c),
        }
    }
    out
}

fn run_one(path: &Path, root: &Path, validate: bool) -> Outcome {
    let mut o = Outcome::default();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            o.error = Some(format!("read: {e}"));
            return o;
        }
    };
    let t0 = Instant::now();
    let doc = match parse_document(&bytes) {
        Ok(d) => d,
        Err(e) => {
            // Unparsable files that do not even mention a version key are broken fragments
            // (prance ships one in ISO-8859-2 on purpose), not specs.
            let text = String::from_utf8_lossy(&bytes);
            o.fragment = !["openapi", "swagger"].iter().any(|k| text.contains(k));
            o.error = Some(e.to_string());
            return o;
        }
    };
    o.parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    let is_spec = doc.get("openapi").is_some() || doc.get("swagger").is_some();
    if !is_spec {
        o.fragment = true;
        return o;
    }
    let base = url::Url::from_file_path(path).map(|u| u.to_string()).ok();
    let loader = FolderLoader {
        root: root.to_path_buf(),
    };
    let t1 = Instant::now();
    let spec = compile(&doc, base.as_deref(), &CompileOptions::default(), &loader);
    o.compile_ms = t1.elapsed().as_secs_f64() * 1e3;
    let spec = match spec {
        Ok(s) => s,
        Err(e) => {
            o.spec_version = doc
                .get("openapi")
                .or_else(|| doc.get("swagger"))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default();
            o.error = Some(match e {
                SpecError::Syntax(_) => format!("syntax: {e}"),
                SpecError::NotOpenApi(_) => format!("not OpenAPI: {e}"),
                SpecError::Invalid { .. } => format!("invalid: {e}"),
                SpecError::Options(_) => format!("options: {e}"),
            });
            return o;
        }
    };
    o.spec_version = spec.spec_version.clone();
    o.title = spec.title.clone();
    o.operations = spec.operations.len();
    for d in &spec.diagnostics {
        let kind = reason_kind(&d.message);
        if d.severity == Severity::Error {
            o.skipped += 1;
            *o.reasons.entry(kind).or_default() += 1;
            if o.skipped_examples.len() < 5 {
                o.skipped_examples.push(d.to_string());
            }
        } else {
            o.warnings += 1;
            *o.warning_reasons.entry(kind).or_default() += 1;
        }
    }
    if validate {
        let t2 = Instant::now();
        for op in &spec.operations {
            let schemas = std::iter::once(("input", &op.input_schema))
                .chain(op.output_schema.as_ref().map(|s| ("output", s)));
            for (which, s) in schemas {
                o.schemas_checked += 1;
                let v = Value::Object(s.clone());
                let problem = if !jsonschema::meta::is_valid(&v) {
                    Some("not valid against the 2020-12 meta-schema".to_owned())
                } else {
                    jsonschema::validator_for(&v).err().map(|e| e.to_string())
                };
                if let Some(p) = problem {
                    o.schemas_invalid += 1;
                    if o.invalid_examples.len() < 5 {
                        let mut p = p;
                        p.truncate(300);
                        o.invalid_examples.push(format!("{} {which}: {p}", op.name));
                    }
                }
            }
        }
        o.validate_ms = t2.elapsed().as_secs_f64() * 1e3;
    }
    o
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            walk(&e, out);
        }
    } else {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext_ok = [".json", ".yaml", ".yml"].iter().any(|x| name.ends_with(x));
        if ext_ok && !name.starts_with("package") && !name.starts_with('.') {
            out.push(path.to_path_buf());
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out_dir = PathBuf::from("target/spec-corpus");
    let mut vendors_file = None;
    let mut timeout = 60u64;
    let mut validate = true;
    let mut roots = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out_dir = args.next().expect("--out DIR").into(),
            "--vendors" => vendors_file = Some(PathBuf::from(args.next().expect("--vendors FILE"))),
            "--timeout" => {
                timeout = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--timeout SECS")
            }
            "--no-validate" => validate = false,
            _ => roots.push(PathBuf::from(a)),
        }
    }
    if roots.is_empty() {
        eprintln!(
            "usage: corpus --out DIR [--vendors FILE] [--timeout SECS] [--no-validate] PATH..."
        );
        std::process::exit(2);
    }
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let mut files = Vec::new();
    for r in &roots {
        let root = r
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", r.display()));
        let confine = if root.is_dir() {
            root.clone()
        } else {
            root.parent().unwrap_or(&root).to_path_buf()
        };
        let mut found = Vec::new();
        walk(&root, &mut found);
        files.extend(found.into_iter().map(|f| (r.clone(), confine.clone(), f)));
    }
    eprintln!("{} candidate files", files.len());

    // A panic is reported in the spec's line; keep the default hook from printing each one.
    std::panic::set_hook(Box::new(|_| {}));
    let mut lines_out =
        std::fs::File::create(out_dir.join("specs.jsonl")).expect("create specs.jsonl");
    let mut lines = Vec::new();
    let started = Instant::now();
    for (i, (arg_root, confine, file)) in files.iter().enumerate() {
        let rel = match file.strip_prefix(arg_root.canonicalize().unwrap()) {
            Ok(p) if p.as_os_str().is_empty() => arg_root.clone(),
            Ok(p) => arg_root.join(p),
            Err(_) => file.clone(),
        };
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = mpsc::channel();
        let (f, c) = (file.clone(), confine.clone());
        let t = Instant::now();
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let r = std::panic::catch_unwind(|| run_one(&f, &c, validate));
                let _ = tx.send(r.map_err(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "panic".to_owned())
                }));
            })
            .expect("spawn");
        let (outcome, panicked, timed_out) = match rx.recv_timeout(Duration::from_secs(timeout)) {
            Ok(Ok(o)) => (o, None, false),
            Ok(Err(msg)) => (Outcome::default(), Some(msg), false),
            // The thread is left running (it cannot be cancelled); the run goes on.
            Err(_) => (Outcome::default(), None, true),
        };
        let wall_ms = t.elapsed().as_secs_f64() * 1e3;
        if outcome.fragment {
            continue;
        }
        let line = json!({
            "path": rel.display().to_string(),
            "bytes": size,
            "spec_version": outcome.spec_version,
            "title": outcome.title,
            "operations": outcome.operations,
            "skipped": outcome.skipped,
            "warnings": outcome.warnings,
            "reasons": outcome.reasons,
            "warning_reasons": outcome.warning_reasons,
            "skipped_examples": outcome.skipped_examples,
            "error": outcome.error,
            "panicked": panicked,
            "timed_out": timed_out,
            "parse_ms": round(outcome.parse_ms),
            "compile_ms": round(outcome.compile_ms),
            "validate_ms": round(outcome.validate_ms),
            "wall_ms": round(wall_ms),
            "schemas_checked": outcome.schemas_checked,
            "schemas_invalid": outcome.schemas_invalid,
            "invalid_examples": outcome.invalid_examples,
        });
        writeln!(lines_out, "{line}").expect("write specs.jsonl");
        if panicked.is_some() || timed_out || outcome.schemas_invalid > 0 {
            eprintln!("!! {}: {line}", rel.display());
        }
        lines.push(line);
        if (i + 1) % 250 == 0 {
            eprintln!(
                "{} / {} files, {:.0} s",
                i + 1,
                files.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let vendors = vendors_file
        .map(|f| std::fs::read_to_string(f).expect("read the vendors file"))
        .unwrap_or_default();
    let report = summarize(&lines, &vendors, started.elapsed());
    std::fs::write(
        out_dir.join("report.json"),
        serde_json::to_string_pretty(&json!({"totals": report.0, "specs": lines})).unwrap(),
    )
    .expect("write report.json");
    std::fs::write(out_dir.join("report.md"), &report.1).expect("write report.md");
    println!("{}", report.1);
    let t = &report.0;
    if u(t, "panics") + u(t, "timeouts") + u(t, "schemas_invalid") > 0 {
        std::process::exit(1);
    }
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}
fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

fn summarize(lines: &[Value], vendors: &str, elapsed: Duration) -> (Value, String) {
    let mut by_version: BTreeMap<String, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut warn_reasons: BTreeMap<String, u64> = BTreeMap::new();
    let (mut ops, mut skipped, mut with_skips, mut unusable, mut panics, mut hangs) =
        (0, 0, 0, 0, 0, 0);
    let (mut invalid, mut checked, mut warnings) = (0, 0, 0);
    let mut compile_ms: Vec<f64> = Vec::new();
    for l in lines {
        let v = l["spec_version"].as_str().unwrap_or("");
        let major = if v.is_empty() {
            "unknown".to_owned()
        } else {
            v.split('.').take(2).collect::<Vec<_>>().join(".")
        };
        *by_version.entry(major).or_default() += 1;
        ops += u(l, "operations");
        skipped += u(l, "skipped");
        warnings += u(l, "warnings");
        checked += u(l, "schemas_checked");
        invalid += u(l, "schemas_invalid");
        if u(l, "skipped") > 0 {
            with_skips += 1;
        }
        if !l["error"].is_null() {
            unusable += 1;
        }
        if !l["panicked"].is_null() {
            panics += 1;
        }
        if l["timed_out"] == true {
            hangs += 1;
        }
        compile_ms.push(f(l, "parse_ms") + f(l, "compile_ms"));
        for (k, n) in l["reasons"].as_object().into_iter().flatten() {
            let e = reasons.entry(k.clone()).or_default();
            e.0 += n.as_u64().unwrap_or(0);
            e.1 += 1;
        }
        for (k, n) in l["warning_reasons"].as_object().into_iter().flatten() {
            *warn_reasons.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
    }
    compile_ms.sort_by(f64::total_cmp);
    let median = compile_ms.get(compile_ms.len() / 2).copied().unwrap_or(0.0);
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1.0));
    let mut warn_reasons: Vec<_> = warn_reasons.into_iter().collect();
    warn_reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut slowest: Vec<&Value> = lines.iter().collect();
    slowest.sort_by(|a, b| {
        (f(b, "parse_ms") + f(b, "compile_ms")).total_cmp(&(f(a, "parse_ms") + f(a, "compile_ms")))
    });
    let unusable_list: Vec<_> = lines
        .iter()
        .filter(|l| !l["error"].is_null())
        .map(|l| {
            format!(
                "{}: {}",
                l["path"].as_str().unwrap_or(""),
                l["error"].as_str().unwrap_or("")
            )
        })
        .collect();
    let totals = json!({
        "specs": lines.len(),
        "by_version": by_version,
        "operations": ops,
        "skipped": skipped,
        "warnings": warnings,
        "specs_with_skips": with_skips,
        "specs_unusable": unusable,
        "unusable": unusable_list,
        "panics": panics,
        "timeouts": hangs,
        "schemas_checked": checked,
        "schemas_invalid": invalid,
        "median_parse_compile_ms": round(median),
        "run_seconds": round(elapsed.as_secs_f64()),
        "skip_reasons": reasons.iter().map(|(k, (n, s))| json!({"reason": k, "operations": n, "specs": s})).collect::<Vec<_>>(),
        "warning_reasons": warn_reasons.iter().take(30).map(|(k, n)| json!({"reason": k, "count": n})).collect::<Vec<_>>(),
    });

    let mut md = String::new();
    let w = &mut md;
    use std::fmt::Write as _;
    let _ = writeln!(w, "| total | value |\n|---|---|");
    let _ = writeln!(w, "| specs | {} |", lines.len());
    for (v, n) in &by_version {
        let _ = writeln!(w, "| … OpenAPI/Swagger {v} | {n} |");
    }
    let _ = writeln!(w, "| operations compiled | {ops} |");
    let _ = writeln!(
        w,
        "| operations skipped | {skipped} (in {with_skips} specs) |"
    );
    let _ = writeln!(w, "| warnings | {warnings} |");
    let _ = writeln!(w, "| specs unusable as a whole (exit 2) | {unusable} |");
    let _ = writeln!(w, "| panics | {panics} |");
    let _ = writeln!(w, "| timeouts | {hangs} |");
    let _ = writeln!(
        w,
        "| emitted schemas checked with `jsonschema` | {checked} |"
    );
    let _ = writeln!(w, "| emitted schemas failing to compile | {invalid} |");
    let _ = writeln!(w, "| median parse + compile per spec | {median:.1} ms |");
    let _ = writeln!(
        w,
        "| whole run (with validation) | {:.0} s |",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(w, "\n| skip reason | operations | specs |\n|---|---|---|");
    for (k, (n, s)) in reasons.iter().take(15) {
        let _ = writeln!(w, "| {} | {n} | {s} |", k.replace('|', "\\|"));
    }
    if !unusable_list.is_empty() {
        let _ = writeln!(w, "\nSpecs unusable as a whole:\n");
        for l in &unusable_list {
            let _ = writeln!(w, "- {}", l.replace('|', "\\|"));
        }
    }
    let _ = writeln!(
        w,
        "\n| slowest specs | size | version | operations | parse ms | compile ms |\n|---|---|---|---|---|---|"
    );
    for l in slowest.iter().take(10) {
        let _ = writeln!(
            w,
            "| {} | {:.1} MB | {} | {} | {} | {} |",
            l["path"].as_str().unwrap_or(""),
            u(l, "bytes") as f64 / 1e6,
            l["spec_version"].as_str().unwrap_or(""),
            u(l, "operations"),
            f(l, "parse_ms"),
            f(l, "compile_ms"),
        );
    }
    if !vendors.trim().is_empty() {
        let _ = writeln!(
            w,
            "\n| vendor | spec | version | operations | skipped | why skipped | parse + compile ms |\n|---|---|---|---|---|---|---|"
        );
        for v in vendors
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (label, path) = v.split_once('|').unwrap_or((v, v));
            let Some(l) = lines
                .iter()
                .find(|l| l["path"].as_str().is_some_and(|p| p.ends_with(path.trim())))
            else {
                let _ = writeln!(w, "| {label} | {path} | — | not in the corpus | | | |");
                continue;
            };
            let why: Vec<String> = l["reasons"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, n)| format!("{n}× {k}"))
                .collect();
            let why = if let Some(e) = l["error"].as_str() {
                e.to_owned()
            } else {
                why.join("; ")
            };
            let short = path.trim();
            let _ = writeln!(
                w,
                "| {label} | `{short}` | {} | {} | {} | {} | {:.0} |",
                l["spec_version"].as_str().unwrap_or(""),
                u(l, "operations"),
                u(l, "skipped"),
                why.replace('|', "\\|"),
                f(l, "parse_ms") + f(l, "compile_ms"),
            );
        }
    }
    (totals, md)
}
