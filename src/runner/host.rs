//! What the host allows the generator and what it uses: open files against
//! the sockets a run will hold (checked before it starts), and the
//! process's CPU time (read around each stage and by the live view).
//!
//! Every closed-loop user (a TTS or ASR connection, a streaming session, a
//! call) holds a socket for the whole stage. Past the process's open-file
//! limit (often 1024) the extra users fail with "too many open files" as
//! `connect` errors that look like a server problem. So the soft limit is
//! raised to what the run needs when the hard limit allows, and a run that
//! cannot get enough is refused before any request with what to change.

use super::RunError;

/// Files the process keeps besides sockets: results, logs, the runtime.
const SPARE_FILES: u64 = 64;

/// Make sure `sockets` sockets can be open at once (plus spares): raise the
/// soft limit if needed, or say how far short the hard limit is. `wanted`
/// sockets (open loop's in-flight cap) are asked for but not required.
pub fn ensure_open_files(sockets: u64, wanted: u64) -> Result<(), RunError> {
    let needed = sockets.saturating_add(SPARE_FILES);
    let hoped = needed.max(wanted.saturating_add(SPARE_FILES));
    match raise_to(hoped) {
        Limit::Enough => Ok(()),
        Limit::Capped(limit) if limit >= needed => Ok(()),
        Limit::Capped(limit) => Err(RunError::OpenFiles { sockets, limit }),
    }
}

/// What the limit came to.
enum Limit {
    /// At least what was asked.
    Enough,
    /// This many files, the most the process may open.
    Capped(u64),
}

#[cfg(target_os = "linux")]
fn raise_to(files: u64) -> Limit {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let soft = now.current.unwrap_or(u64::MAX);
    if soft >= files {
        return Limit::Enough;
    }
    let hard = now.maximum.unwrap_or(u64::MAX);
    let target = files.min(hard);
    let raised = Rlimit {
        current: Some(target),
        maximum: now.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) if target >= files => Limit::Enough,
        Ok(()) => Limit::Capped(target),
        Err(_) => Limit::Capped(soft),
    }
}

#[cfg(not(target_os = "linux"))]
fn raise_to(_files: u64) -> Limit {
    // Elsewhere the OS reports exhaustion as connect errors.
    Limit::Enough
}

/// CPU seconds the whole process has used (all threads, user + system).
pub fn process_cpu_s() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    }
    #[cfg(not(target_os = "linux"))]
    {
        0.0
    }
}

/// Cores the process may use: CPU affinity and cgroup quota included.
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_s();
        let mut x = 0u64;
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        // 30 ms of busy wall time is at least some CPU time, never less than none.
        assert!(process_cpu_s() > before, "{x}");
        assert!(usable_cores() >= 1);
    }

    #[test]
    fn more_sockets_than_the_hard_limit_is_refused_with_the_numbers() {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        let Some(hard) = hard else {
            return; // unlimited: nothing can be refused
        };
        let e = ensure_open_files(hard + 1, 0).expect_err("over the hard limit");
        let text = e.to_string();
        assert!(
            text.contains(&(hard + 1).to_string()) && text.contains("ulimit -n"),
            "{text}"
        );
        // What fits is accepted (raising the soft limit if needed).
        ensure_open_files(100, 0).expect("100 sockets fit");
        // A wish over the limit is not an error.
        ensure_open_files(100, hard + 1).expect("wanted is not needed");
    }
}
