//! The voxload binary: build the runtime, parse, run, map errors to exit codes.

use clap::Parser;

fn main() {
    let cli = voxload::Cli::parse();
    // One core (e.g. `taskset -c 0`): one thread does everything, and the
    // single-threaded scheduler skips the work-stealing machinery.
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder
        .enable_all()
        // A worker about to go idle writes the requests.jsonl lines that
        // have waited long enough.
        .on_thread_park(voxload::runner::jsonl::flush_due)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(voxload::cli::EXIT_ERROR);
        }
    };
    // With several workers, run on one of them, not on this thread inside
    // `block_on`: the arrival scheduler's final sub-millisecond wait would
    // otherwise compete with the workers for the core (measured: seconds of
    // schedule lag at 5,000 req/s). On the current-thread runtime this
    // thread is the only one either way.
    let outcome = runtime.block_on(async { tokio::spawn(voxload::run(cli)).await });
    let code = match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {}", voxload::cli::error_chain(&e));
            voxload::cli::EXIT_ERROR
        }
        Err(e) => {
            eprintln!("error: voxload failed internally: {e}");
            voxload::cli::EXIT_ERROR
        }
    };
    // Do not wait for lingering connections: results are already written.
    runtime.shutdown_background();
    // A run that failed or panicked may have left requests.jsonl lines
    // pending in a writer that the dropped tasks still shared.
    voxload::runner::jsonl::flush_all();
    std::process::exit(code);
}
