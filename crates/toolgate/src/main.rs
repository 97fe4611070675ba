//! The `toolgate` binary: parse the command line, run it, map failures to exit codes.

use std::process::ExitCode;

use clap::Parser;

// glibc malloc/free took ~20 % of the CPU of a proxied call in profiles (BENCHMARKS.md);
// mimalloc's thread-local free lists cut that substantially for this allocation pattern.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = toolgate::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
            eprintln!("error: {}", failure.message().trim_end());
            failure.exit_code()
        }
    }
}
