//! The voxload binary: build the runtime, parse, run, map errors to exit codes.

use clap::Parser;

fn main() {
    let cli = voxload::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(voxload::cli::EXIT_ERROR);
        }
    };
    let code = match runtime.block_on(voxload::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            voxload::cli::EXIT_ERROR
        }
    };
    // Do not wait for lingering connections: results are already written.
    runtime.shutdown_background();
    std::process::exit(code);
}
