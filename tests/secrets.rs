//! Credentials in URLs (`?api_key=…`, `token`, `sig`, a `user:password@`)
//! and headers never reach any output: every file of the results folder,
//! stdout and stderr, on success and on failure. Runs the built binary
//! against the mock in this process.

mod common;

use std::path::Path;

use common::voxload;

const SECRETS: [&str; 4] = [
    "sk-url-secret",
    "tok-url-secret",
    "pw-url-secret",
    "sk-header-secret",
];

/// Every file under `dir`, recursively, with its text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            let bytes = std::fs::read(&path).expect("read file");
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).to_string(),
            ));
        }
    }
    out
}

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} leaks {s}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_holds_a_credential_from_the_url_or_a_header() {
    let mock = voxload::mock::spawn(voxload::mock::MockModel::default())
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "http://user:pw-url-secret@{}/v1/audio/speech?api_key=sk-url-secret&lang=en&access_token=tok-url-secret",
        mock.addr
    );
    let run = |url: String, dir: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            voxload(
                &[
                    "tts",
                    "--url",
                    &url,
                    "-n",
                    "2",
                    "--out",
                    "results",
                    "--name",
                    "r",
                    "-H",
                    "X-Api-Key: sk-header-secret",
                ],
                &dir,
            )
        })
    };
    let out = run(url.clone(), dir.path().to_path_buf())
        .await
        .expect("task");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert_clean("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_clean("stderr", &stderr);
    let written = files(&dir.path().join("results"));
    let names: Vec<&str> = written.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "result.json",
        "summary.txt",
        "requests.jsonl",
        "report.html",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(expected)),
            "{expected} in {names:?}"
        );
    }
    for (name, text) in &written {
        assert_clean(name, text);
    }
    // What is not secret is kept, so a reader still sees the target.
    let result = written
        .iter()
        .find(|(n, _)| n.ends_with("result.json"))
        .expect("result");
    assert!(result.1.contains("lang=en") && result.1.contains("api_key=<redacted>"));

    // A target that refuses: the error names the URL, not its secrets.
    let dead = "http://127.0.0.1:1/x?api_key=sk-url-secret".to_string();
    let out = run(dead, dir.path().to_path_buf()).await.expect("task");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert_clean("stderr of a failed run", &stderr);
}
