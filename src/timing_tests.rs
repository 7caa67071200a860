//! How tests check time on a busy machine (CI, or a 2-core box shared with
//! builds): shared by the unit tests and, through `#[path]`, by
//! `tests/common`.
//!
//! A loaded machine makes timers, tasks and reads *late*, never early. So a
//! test checks each measured instant against the absolute schedule it was
//! meant to follow: never before it was due (less [`CLOCK`]), and no later
//! than due plus a slack stated where it is checked — [`LATE`] for one late
//! wake-up, more where lateness can add up. Two measured instants are never
//! compared with each other: if the first is late and the second is on
//! time, their difference shrinks below anything the schedule allows
//! (issue 12: a 280 ms span measured as 276.4 ms). An offset from an instant
//! that *caused* the event (a reply due 100 ms after the request arrived)
//! is on that event's schedule, and a client figure paired with the mock's
//! record of the same event is ground truth; both are fine, with slack.
//! How *little* late things are is the benchmarks' job (BENCHMARKS.md).

use std::time::{Duration, Instant};

/// How late a scheduled event may be on a busy 2-core machine. In loaded
/// runs of the whole suite (two busy loops beside other people's builds)
/// checked events came at most ~25 ms late; one read of the client was
/// seen 220 ms late, so this is a bound for the usual case, not a
/// guarantee. Still far below the errors the tests are there to catch (a
/// 150 ms barge-in stop taking 300 ms, 20 ms chunks coming 40 ms apart).
pub const LATE: Duration = Duration::from_millis(50);

/// How early a correct event may *seem*: instants read on different
/// threads, and µs truncation of the mock's truth.
pub const CLOCK: Duration = Duration::from_millis(1);

/// Assert `actual` (an offset from the schedule's origin) lies in
/// `due − CLOCK ..= due + late`.
#[track_caller]
pub fn on_schedule(actual: Duration, due: Duration, late: Duration, what: &str) {
    log(actual, due, what);
    assert!(
        actual + CLOCK >= due,
        "{what}: {actual:?}, {:?} before it was due at {due:?}",
        due - actual
    );
    assert!(
        actual <= due + late,
        "{what}: {actual:?}, {:?} after it was due at {due:?} (allowed {late:?})",
        actual - due
    );
}

/// With `VOXLOAD_LATE_LOG=<file>`, append how late (ms; negative: early)
/// each checked event came, and where it was checked: `sort -n` the file
/// to see how much of `LATE` a machine uses.
#[track_caller]
fn log(actual: Duration, due: Duration, what: &str) {
    use std::io::Write as _;
    let Some(path) = std::env::var_os("VOXLOAD_LATE_LOG") else {
        return;
    };
    let late_ms = (actual.as_secs_f64() - due.as_secs_f64()) * 1e3;
    let at = std::panic::Location::caller();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{late_ms:.3} {at} {what}");
    }
}

/// Assert the instant `at` lies in `origin + due − CLOCK ..= origin +
/// due + late` (an `at` before `origin` is early, not zero).
#[track_caller]
pub fn on_schedule_at(
    at: impl Into<Instant>,
    origin: impl Into<Instant>,
    due: Duration,
    late: Duration,
    what: &str,
) {
    let (at, origin) = (at.into(), origin.into());
    match at.checked_duration_since(origin) {
        Some(actual) => on_schedule(actual, due, late, what),
        None => assert!(
            origin - at + due <= CLOCK,
            "{what}: {:?} before its origin, due {due:?} after it",
            origin - at
        ),
    }
}

/// [`on_schedule_at`] for two instants of the mock's truth (µs on its clock).
#[track_caller]
pub fn on_schedule_us(at_us: u64, origin_us: u64, due: Duration, late: Duration, what: &str) {
    match at_us.checked_sub(origin_us) {
        Some(actual) => on_schedule(Duration::from_micros(actual), due, late, what),
        None => assert!(
            Duration::from_micros(origin_us - at_us) + due <= CLOCK,
            "{what}: {} µs before its origin, due {due:?} after it",
            origin_us - at_us
        ),
    }
}

/// [`on_schedule`] for a figure in milliseconds (a median of records).
#[track_caller]
pub fn on_schedule_ms(actual_ms: f64, due: Duration, late: Duration, what: &str) {
    assert!(actual_ms >= 0.0, "{what}: {actual_ms} ms");
    on_schedule(Duration::from_secs_f64(actual_ms / 1e3), due, late, what);
}
