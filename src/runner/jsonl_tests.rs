use std::path::Path;
use std::sync::Mutex;

use super::*;

/// `flush_all` reaches every open writer: these tests, which look at what is
/// not yet written, must not run beside each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn record(seq: u64, end_us: u64) -> RequestRecord {
    RequestRecord {
        seq,
        start_us: end_us.saturating_sub(500),
        end_us,
        e2e_us: Some(500),
        ..RequestRecord::default()
    }
}

/// Every line of the file, parsed; fails on a partial or invalid line.
fn lines_on_disk(path: &Path) -> Vec<RequestRecord> {
    let text = std::fs::read_to_string(path).expect("read requests.jsonl");
    assert!(text.is_empty() || text.ends_with('\n'), "partial last line");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a whole JSON line"))
        .collect()
}

fn temp_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("requests.jsonl");
    (dir, path)
}

#[test]
fn young_lines_wait_and_flush_all_writes_them() {
    let _guard = serial();
    let (_dir, path) = temp_file();
    // A delay no busy test machine reaches between two lines.
    let writer = JsonlWriter::with_max_delay(&path, Duration::from_secs(600)).expect("create");
    writer.write(&record(0, 10_000));
    writer.write(&record(1, 10_200));
    flush_due();
    assert!(
        lines_on_disk(&path).is_empty(),
        "written before they were due"
    );
    flush_all();
    let seqs: Vec<u64> = lines_on_disk(&path).iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1]);
    assert_eq!(writer.finish().expect("finish"), 2);
}

#[test]
fn lines_are_written_once_the_oldest_has_waited_the_delay() {
    let _guard = serial();
    let (_dir, path) = temp_file();
    let writer = JsonlWriter::create(&path).expect("create");
    writer.write(&record(0, 1));
    std::thread::sleep(MAX_DELAY);
    // At the next line...
    writer.write(&record(1, 2));
    assert_eq!(lines_on_disk(&path).len(), 2);
    // ...or when a worker goes idle.
    writer.write(&record(2, 3));
    std::thread::sleep(MAX_DELAY);
    flush_due();
    assert_eq!(lines_on_disk(&path).len(), 3);
    writer.write(&record(3, 4));
    drop(writer);
    assert_eq!(
        lines_on_disk(&path).len(),
        4,
        "dropping the writer writes the rest"
    );
}

#[test]
fn a_burst_is_written_once_it_reaches_the_size_bound() {
    let _guard = serial();
    let (_dir, path) = temp_file();
    let writer = JsonlWriter::with_max_delay(&path, Duration::from_secs(600)).expect("create");
    // Lines of one length: the same record each time.
    let mut line = Vec::new();
    record(7, 1).write_jsonl(&mut line);
    let per_burst = MAX_PENDING_BYTES.div_ceil(line.len()) as u64;
    for _ in 0..per_burst - 1 {
        writer.write(&record(7, 1));
    }
    assert!(lines_on_disk(&path).is_empty());
    writer.write(&record(7, 1));
    assert_eq!(lines_on_disk(&path).len() as u64, per_burst);
    writer.flush();
    assert_eq!(writer.finish().expect("finish"), per_burst);
}

#[test]
fn a_write_error_is_reported_by_finish_and_names_the_file() {
    let _guard = serial();
    let (_dir, path) = temp_file();
    let writer = JsonlWriter::create(&path).expect("create");
    // Replace the file with a read-only descriptor of it.
    writer.shared.lock().file = File::open(&path).expect("open read-only");
    writer.write(&record(0, 1));
    let err = writer
        .finish()
        .expect_err("a read-only file cannot be written");
    assert!(err.to_string().contains("requests.jsonl"), "{err}");
}
