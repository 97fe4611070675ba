//! The `toolgate` binary: parse the command line, run it, map failures to exit codes.

use std::process::ExitCode;

use clap::Parser;

// glibc malloc/free took ~20 % of the CPU of a proxied call in profiles (BENCHMARKS.md);
// mimalloc's thread-local free lists cut that substantially for this allocation pattern.
// `toolgate::memory::Allocator` says why not the `mimalloc` crate's wrapper.
#[global_allocator]
static GLOBAL: toolgate::memory::Allocator = toolgate::memory::Allocator;

/// mimalloc settings for a small footprint (BENCHMARKS.md, "Memory"), each overridable by its
/// `MIMALLOC_*` environment variable: no transparent huge pages and no eagerly committed
/// arenas (both inflate the RSS of a mostly idle gateway), and freed memory handed back to the
/// OS at once while the sources compile (otherwise the parsed spec document, freed after
/// compilation, stays in the RSS); `toolgate::memory::serving` sets a short delay once they
/// are assembled.
fn tune_allocator() {
    use libmimalloc_sys::{_mi_option_last, mi_option_set, mi_option_t};
    // Values of mimalloc v3's `mi_option_e` (include/mimalloc.h); libmimalloc-sys names only
    // some of them. The assertion fails the build if a mimalloc upgrade changes the enum.
    const ARENA_EAGER_COMMIT: mi_option_t = 4;
    const PURGE_DELAY: mi_option_t = 15;
    const ALLOW_THP: mi_option_t = 43;
    const _: () = assert!(_mi_option_last == 47, "mimalloc's option list changed");
    let settings: [(mi_option_t, &str, std::ffi::c_long); 3] = [
        (ALLOW_THP, "MIMALLOC_ALLOW_THP", 0),
        (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 0),
    ];
    for (option, env, value) in settings {
        if std::env::var_os(env).is_none() {
            // SAFETY: setting a mimalloc option has no memory-safety preconditions.
            unsafe { mi_option_set(option, value) };
        }
    }
    // mimalloc reads `allow_thp` once, when the process starts (before `main`), and by then has
    // already asked for huge pages on its first arena: setting the option above is too late to
    // stop that. Huge pages fault in 2 MiB at a time, zeroed: loading GitHub's description
    // peaked at ~108 MB with them and ~94 MB without (BENCHMARKS.md). The process-wide switch
    // applies to every later fault. It is inherited by child processes; toolgate starts none
    // today (an upstream stdio server launcher should clear it in the child).
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

/// Panic messages are printed scrubbed of secrets too (with a backtrace when
/// `RUST_BACKTRACE` asks for one, as the default hook would).
fn scrub_panics() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let mut text = format!("thread '{}' {info}", thread.name().unwrap_or("<unnamed>"));
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            text.push_str(&format!("\nstack backtrace:\n{backtrace}"));
        }
        toolgate::redact::eprintln(&text);
    }));
}

fn main() -> ExitCode {
    tune_allocator();
    scrub_panics();
    let cli = toolgate::cli::Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.worker_threads() {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(toolgate::execute(cli));
    // Do not wait for lingering blocking tasks (e.g. a stdin read) on the way out.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(failure) => {
            failure.print();
            failure.exit_code()
        }
    }
}
