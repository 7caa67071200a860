//! deploy/, checked for real: the Kubernetes manifests validate against
//! the Kubernetes schema (kubernetes-validate) and agree with each other
//! and with the image; their shard pods and merge step, run here the way
//! the Indexed Job runs them, add up to the mock's truth; and the Slurm
//! job array runs on a one-node cluster (deploy/slurm/setup-local.sh,
//! which `.ci/run` calls), its merge job after it, with the merged count
//! equal to the mock's and to the sum of the shards'.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use voxload::mock::Truth;
use voxload::result::{RunResult, RunStatus};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_voxload")
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read(dir: &Path) -> RunResult {
    let path = dir.join("result.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid result")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The mock as a process of its own (`voxload mock --port 0`), as a
/// scheduler's jobs would reach a real server; killed when dropped.
struct Mock {
    child: Child,
    /// Kept open: the mock prints a summary as it exits.
    _stdout: BufReader<ChildStdout>,
    url: String,
}

impl Mock {
    fn start() -> Self {
        let mut child = Command::new(bin())
            .args(["mock", "--host", "127.0.0.1", "--port", "0", "--seed", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mock starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("mock prints its address");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Self {
            child,
            _stdout: stdout,
            url,
        }
    }

    /// `GET /mock/truth`: what the server counted.
    fn truth(&self) -> Truth {
        let addr = self.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("mock answers");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "GET /mock/truth HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("request sent");
        let mut response = String::new();
        s.read_to_string(&mut response).expect("response read");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).expect("truth JSON")
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests of the single stage of `run`.
fn requests(run: &RunResult) -> u64 {
    assert_eq!(run.stages.len(), 1, "one stage");
    run.stages[0].summary.requests
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("readable")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .expect("readable")
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}

// ---------------------------------------------------------------- Kubernetes

const MANIFESTS: [&str; 3] = ["pvc.yaml", "job.yaml", "merge-job.yaml"];

/// Why the Kubernetes checks need Python: kubernetes-validate, and the
/// PyYAML it brings to read the manifests.
const K8S_HOW: &str = "pip install kubernetes-validate (.ci/run does)";

/// The one document of a YAML file, as JSON (read by PyYAML).
fn yaml(path: &Path) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", text(&out));
    let docs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(docs.len(), 1, "{}: one document", path.display());
    docs.into_iter().next().expect("one")
}

/// The three manifests of deploy/k8s.
struct K8s {
    pvc: Value,
    job: Value,
    merge: Value,
}

fn manifests() -> K8s {
    let dir = deploy().join("k8s");
    K8s {
        pvc: yaml(&dir.join("pvc.yaml")),
        job: yaml(&dir.join("job.yaml")),
        merge: yaml(&dir.join("merge-job.yaml")),
    }
}

fn pod(job: &Value) -> &Value {
    &job["spec"]["template"]["spec"]
}

fn container(job: &Value) -> &Value {
    let containers = pod(job)["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|a| a.as_str().expect("a string").to_string())
        .collect()
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} in {args:?}"));
    args.get(i + 1).expect("a value")
}

/// A container's plain `env` values (`value:`, not `valueFrom:`).
fn env_values(c: &Value) -> BTreeMap<String, String> {
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect()
}

/// Kubernetes' `$(VAR)` expansion of an argument from the container's env.
fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    env.iter().fold(arg.to_string(), |a, (k, v)| {
        a.replace(&format!("$({k})"), v)
    })
}

#[test]
fn kubernetes_manifests_validate_against_the_schema() {
    if !common::external("kubernetes-validate", K8S_HOW) {
        return;
    }
    let dir = deploy().join("k8s");
    // The oldest release the README promises, and the newest known.
    for version in ["1.30.0", "1.37.0"] {
        let out = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version])
            .args(MANIFESTS.map(|m| dir.join(m)))
            .output()
            .expect("kubernetes-validate runs");
        let said = text(&out);
        assert!(out.status.success(), "against {version}: {said}");
        for m in MANIFESTS {
            assert!(said.contains(&format!("{m} passed")), "{m}: {said}");
        }
    }
    // The validator does reject: a misspelt field in the Job fails strict checks.
    let bad = tempfile::tempdir().expect("tmp");
    let job = std::fs::read_to_string(dir.join("job.yaml")).expect("job.yaml");
    assert!(job.contains("\n  parallelism: "), "spec.parallelism is set");
    let misspelt = job.replacen("\n  parallelism: ", "\n  paralelism: ", 1);
    std::fs::write(bad.path().join("job.yaml"), misspelt).expect("write");
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "-k", "1.30.0"])
        .arg(bad.path().join("job.yaml"))
        .output()
        .expect("kubernetes-validate runs");
    assert!(
        !out.status.success(),
        "a misspelt field passed: {}",
        text(&out)
    );
}

#[test]
fn kubernetes_manifests_agree_with_each_other_and_the_image() {
    if !common::external("kubernetes-validate", K8S_HOW) {
        return;
    }
    let K8s { pvc, job, merge } = manifests();
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions");
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "every shard at once");
    let c = container(&job);
    let args = strings(&c["args"]);
    // The image's entrypoint is voxload: the shard pods give only its arguments.
    assert!(
        c.get("command").is_none(),
        "no command: the entrypoint runs"
    );
    assert!(
        ["tts", "asr", "agent", "run"].contains(&args[0].as_str()),
        "{args:?}"
    );
    assert_eq!(flag(&args, "--shards"), n.to_string());
    let name = flag(&args, "--name");
    let out = flag(&args, "--out");
    assert_eq!(flag(&args, "--start-file"), format!("{out}/{name}.start"));
    // The merge step expects as many shards, in the run's folder.
    let m = container(&merge);
    let menv = env_values(m);
    assert_eq!(menv["SHARDS"], n.to_string(), "merge waits for N shards");
    assert_eq!(menv["RUN_DIR"], format!("{out}/{name}"));
    let script = strings(&m["args"]).join("\n");
    assert_eq!(strings(&m["command"]), ["/bin/sh", "-c"]);
    assert!(
        script.contains("exec voxload merge \"$RUN_DIR\""),
        "{script}"
    );
    // Both mount the one claim where the arguments write.
    for j in [&job, &merge] {
        let volumes = pod(j)["volumes"].as_array().expect("volumes");
        assert_eq!(
            volumes[0]["persistentVolumeClaim"]["claimName"],
            pvc["metadata"]["name"]
        );
        let mounts = container(j)["volumeMounts"].as_array().expect("mounts");
        assert_eq!(mounts[0]["name"], volumes[0]["name"]);
        assert_eq!(mounts[0]["mountPath"].as_str(), Some(out));
        assert_eq!(pod(j)["restartPolicy"], "Never");
    }
    assert!(
        strings(&pvc["spec"]["accessModes"]).contains(&"ReadWriteMany".to_string()),
        "pods on several nodes share the claim"
    );
    // The key comes from a Secret through the environment, never the arguments.
    let key_var = flag(&args, "--api-key-env");
    let key = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == key_var)
        .unwrap_or_else(|| panic!("{key_var} is in the env"));
    assert!(
        key["valueFrom"]["secretKeyRef"]["name"].is_string(),
        "{key}"
    );
    for a in args.iter().chain(env_values(c).values()) {
        let lower = a.to_lowercase();
        assert!(
            !lower.contains("authorization") && !lower.contains("bearer") && !a.contains('@'),
            "no credential in {a}"
        );
    }
    // The image: built with the toolchain, run as the user the pods run as.
    let file = std::fs::read_to_string(deploy().join("Containerfile")).expect("Containerfile");
    let lines: Vec<&str> = file
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let from: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "two stages");
    assert!(from[0].contains("rust:") && from[0].ends_with(" AS build"));
    assert!(from[1].contains("debian:") && from[1].contains("-slim"));
    assert!(file.contains("cargo build --release --locked --bin voxload"));
    assert!(file.contains("ca-certificates"));
    assert!(file.contains("COPY --from=build /usr/local/bin/voxload /usr/local/bin/voxload"));
    assert!(lines.contains(&"ENTRYPOINT [\"voxload\"]"), "{lines:?}");
    let user = lines
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let (uid, gid) = user.split_once(':').expect("uid:gid");
    assert_ne!(uid, "0", "not root");
    for j in [&job, &merge] {
        let sc = &pod(j)["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(sc["runAsUser"].to_string(), uid);
        assert_eq!(sc["runAsGroup"].to_string(), gid);
        assert_eq!(sc["fsGroup"].to_string(), gid, "the volume is writable");
    }
}

/// The Indexed Job's pods and the merge Job, run here as Kubernetes would
/// run them: the manifest's arguments (with `$(VAR)` expanded from its
/// env), `JOB_COMPLETION_INDEX` 0..N-1, the Secret's key in the env, the
/// claim a temp folder; only the target, rate and length changed, to the
/// mock and a few seconds. The merge script waits for every shard and
/// merges: the count is the mock's, and the key is in no file.
#[test]
fn kubernetes_pods_run_as_the_indexed_job_runs_them() {
    if !common::external("kubernetes-validate", K8S_HOW) {
        return;
    }
    let K8s { job, merge, .. } = manifests();
    let n = job["spec"]["completions"].as_u64().expect("completions") as u32;
    let c = container(&job);
    let args = strings(&c["args"]);
    let claim = flag(&args, "--out").to_string();
    let name = flag(&args, "--name").to_string();
    let key_var = flag(&args, "--api-key-env").to_string();
    let mock = Mock::start();
    let dir = tempfile::tempdir().expect("tmp");
    let results = dir.path().join("results");
    std::fs::create_dir(&results).expect("the volume");
    let on_volume = |a: &str| match a.strip_prefix(&claim) {
        Some(rest) => format!("{}{rest}", results.display()),
        None => a.to_string(),
    };
    let mut env = env_values(c);
    env.insert("VOXLOAD_URL".into(), mock.url.clone());
    // 4 req/s for 3 s per shard.
    let (rate, seconds) = (4 * n, 3);
    let mut run_args: Vec<String> = args.iter().map(|a| on_volume(&expand(a, &env))).collect();
    for (f, v) in [
        ("--rate", rate.to_string()),
        ("--duration", format!("{seconds}s")),
    ] {
        let i = run_args.iter().position(|a| a == f).expect("the flag") + 1;
        run_args[i] = v;
    }
    assert!(
        !run_args.iter().any(|a| a.contains("$(")),
        "every $(VAR) is set: {run_args:?}"
    );
    let secret = "sk-deploy-test-0f3a9c1e77";
    let scrubbed = |cmd: &mut Command| {
        for v in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_COUNT",
            "SLURM_ARRAY_TASK_MIN",
        ] {
            cmd.env_remove(v);
        }
        cmd.env_remove("VOXLOAD_SHARDS");
    };
    let pods: Vec<Child> = (0..n)
        .map(|i| {
            let mut cmd = Command::new(bin());
            scrubbed(&mut cmd);
            cmd.args(&run_args)
                .envs(&env)
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .env(&key_var, secret)
                .current_dir(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("shard starts")
        })
        .collect();
    // The merge Job, applied with the shards: its script in /bin/sh, with
    // voxload on PATH as in the image.
    let m = container(&merge);
    let mut menv = env_values(m);
    let run_dir = on_volume(&menv["RUN_DIR"]);
    menv.insert("POLL_SECONDS".into(), "1".into());
    let bin_dir = Path::new(bin()).parent().expect("a folder");
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let command = strings(&m["command"]);
    let merge_job = |run_dir: &str, wait_s: &str| {
        Command::new(&command[0])
            .args(&command[1..])
            .args(strings(&m["args"]))
            .envs(&menv)
            .env("RUN_DIR", run_dir)
            .env("WAIT_SECONDS", wait_s)
            .env("PATH", &path)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("merge starts")
    };
    let merger = merge_job(&run_dir, "90");
    let limit = Duration::from_secs(90);
    for (i, pod) in pods.into_iter().enumerate() {
        let o = common::wait_bounded(pod, limit, "a shard pod");
        assert_eq!(o.status.code(), Some(0), "pod {i}: {}", text(&o));
        let said = String::from_utf8_lossy(&o.stderr);
        let me = format!("shard {}/{n} (from the Kubernetes Indexed Job)", i + 1);
        assert!(said.contains(&me), "pod {i}: {said}");
    }
    let o = common::wait_bounded(merger, limit, "the merge job");
    assert_eq!(o.status.code(), Some(0), "merge: {}", text(&o));
    assert!(text(&o).contains(&format!("{n} of {n} shards finished")));

    let run_dir = PathBuf::from(run_dir);
    assert_eq!(run_dir, results.join(&name));
    let mut sum = 0;
    for i in 1..=n {
        let shard = read(&run_dir.join(format!("shard-{i}-of-{n}")));
        assert_eq!(shard.shard.as_ref().map(|s| s.shard.index), Some(i));
        sum += requests(&shard);
    }
    let merged = read(&run_dir.join("merged"));
    let truth = mock.truth();
    assert_eq!(merged.status, RunStatus::Complete);
    let from = merged.merged_from.as_ref().expect("merged");
    assert_eq!((from.count, from.shards.len()), (n, n as usize));
    assert_eq!(requests(&merged), truth.requests, "the mock's count");
    assert_eq!(requests(&merged), sum, "the shards' sum");
    assert_eq!(sum, u64::from(rate) * seconds, "rate × duration");
    assert_eq!(merged.stages[0].summary.ok, truth.ok);
    let slos: Vec<&str> = merged.slo.iter().map(|s| s.slo.as_str()).collect();
    for expr in menv["MERGE_ARGS"]
        .split_whitespace()
        .filter(|a| *a != "--slo")
    {
        assert!(slos.contains(&expr), "{expr} judged: {slos:?}");
    }
    assert!(merged.slo.iter().all(|s| s.passed));
    let leaked = files_holding(dir.path(), secret);
    assert!(leaked.is_empty(), "the API key is in {leaked:?}");

    // The merge Job waits only for finished shards, and only so long: with
    // shard 1 still running and shard N gone, it merges what there is
    // after WAIT_SECONDS, marked partial, and fails (exit 1).
    let later = results.join("later");
    for i in 1..n {
        let from = run_dir.join(format!("shard-{i}-of-{n}"));
        let to = later.join(format!("shard-{i}-of-{n}"));
        std::fs::create_dir_all(&to).expect("copy");
        std::fs::copy(from.join("result.json"), to.join("result.json")).expect("copy");
    }
    let first = later.join(format!("shard-1-of-{n}/result.json"));
    let json = std::fs::read_to_string(&first).expect("result.json");
    assert!(
        json.contains("\"status\": \"complete\""),
        "the status the script reads"
    );
    std::fs::write(
        &first,
        json.replace("\"status\": \"complete\"", "\"status\": \"in_progress\""),
    )
    .expect("write");
    // The script's clock is `date +%s`: its deadline is a whole second of
    // the wall clock, at least WAIT_SECONDS after the second it started in.
    let unix_s = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    };
    let started = unix_s();
    let o = common::wait_bounded(
        merge_job(&later.to_string_lossy(), "2"),
        limit,
        "the merge job",
    );
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "partial: {said}");
    assert!(
        said.contains(&format!("{} of {n} shards finished", n - 2)),
        "{said}"
    );
    assert!(said.contains("merging the shards there are"), "{said}");
    assert!(unix_s() >= started + 2, "it waited until its deadline");
    let partial = read(&later.join("merged"));
    assert_eq!(partial.status, RunStatus::Partial);
    let from = partial.merged_from.as_ref().expect("merged");
    assert_eq!(from.missing, [n], "shard {n} is missing");
}

// --------------------------------------------------------------------- Slurm

/// The array and merge jobs of one submission, cancelled if the test
/// ends before they do.
struct Jobs(Vec<String>);

impl Drop for Jobs {
    fn drop(&mut self) {
        let _ = Command::new("scancel").args(&self.0).output();
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    text(&out)
}

/// Wait until no job of `jobs` is queued or running, at most `limit`;
/// then fail with what Slurm and the jobs' output say.
fn wait_for_jobs(jobs: &Jobs, limit: Duration, logs: &Path) {
    let ids = jobs.0.join(",");
    let until = Instant::now() + limit;
    loop {
        let queued = Command::new("squeue")
            .args(["-h", "-o", "%i %T", "-j", &ids])
            .output()
            .expect("squeue runs");
        if String::from_utf8_lossy(&queued.stdout).trim().is_empty() {
            return;
        }
        if Instant::now() > until {
            let mut why = format!(
                "Slurm jobs {ids} not done within {limit:?}\nsqueue:\n{}\n",
                run("squeue", &[])
            );
            for id in &jobs.0 {
                why += &run("scontrol", &["show", "job", id]);
            }
            for e in std::fs::read_dir(logs).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().ends_with(".out") {
                    let log = std::fs::read_to_string(e.path()).unwrap_or_default();
                    why += &format!("\n== {}\n{log}", e.path().display());
                }
            }
            panic!("{why}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `JobState` and `ExitCode` of every record of job `id` (one per array task).
fn job_states(id: &str) -> Vec<(String, String)> {
    run("scontrol", &["show", "job", "-o", id])
        .lines()
        .filter(|l| l.contains("JobId="))
        .map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or("?")
                    .to_string()
            };
            (field("JobState="), field("ExitCode="))
        })
        .collect()
}

/// deploy/slurm/submit.sh on the local cluster: three array tasks, each
/// a shard found from Slurm's array variables, all started together by
/// the start file, then the merge job after them (afterok). The merged
/// count is the mock's and the sum of the shards'.
#[test]
fn slurm_array_and_its_merge_add_up_to_the_mock_truth() {
    let how = "a Slurm cluster: bash deploy/slurm/setup-local.sh (.ci/run runs it)";
    if !common::external("sbatch", how) {
        return;
    }
    let up = run("scontrol", &["ping"]).contains("is UP");
    if !common::external_up(up, "slurmctld does not answer `scontrol ping`", how) {
        return;
    }
    let mock = Mock::start();
    // Slurm's jobs run as their submitter (root here): a temp folder works.
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("results");
    let (n, rate, seconds, name) = (3u32, 12u32, 3u64, "slurm-test");
    let submit = deploy().join("slurm/submit.sh");
    let o = Command::new("bash")
        .arg(&submit)
        .args(["-n", &n.to_string(), "-b", bin(), "-s", "errors<1%", "-o"])
        .arg(&out)
        .args([name, "--", "tts", "--url", &mock.url])
        .args([
            "--rate",
            &rate.to_string(),
            "--duration",
            &format!("{seconds}s"),
        ])
        .current_dir(dir.path())
        .output()
        .expect("submit.sh runs");
    let said = text(&o);
    assert!(o.status.success(), "submit.sh: {said}");
    let (array, merge) = job_ids(&said);
    let jobs = Jobs(vec![array.clone(), merge.clone()]);
    let run_dir = out.join(name);
    wait_for_jobs(&jobs, Duration::from_secs(180), &run_dir);

    let tasks = job_states(&array);
    assert_eq!(tasks.len(), n as usize, "one record per task: {tasks:?}");
    for (state, exit) in &tasks {
        assert_eq!((state.as_str(), exit.as_str()), ("COMPLETED", "0:0"));
    }
    let merge_log = std::fs::read_to_string(run_dir.join(format!("slurm-merge-{merge}.out")))
        .expect("the merge job's output");
    assert_eq!(
        job_states(&merge),
        [("COMPLETED".to_string(), "0:0".to_string())],
        "{merge_log}"
    );
    assert!(
        merge_log.contains(&format!("merged {n} shards")),
        "{merge_log}"
    );
    assert!(
        out.join(format!("{name}.start")).is_file(),
        "the start file"
    );

    let mut sum = 0;
    let mut epochs = Vec::new();
    for i in 1..=n {
        let folder = run_dir.join(format!("shard-{i}-of-{n}"));
        let shard = read(&folder);
        assert_eq!(shard.shard.as_ref().map(|s| s.shard.index), Some(i));
        assert!(folder.join("requests.jsonl").is_file());
        sum += requests(&shard);
        epochs.push(shard.epoch_us);
    }
    let task_logs: String = (0..n)
        .map(|t| {
            std::fs::read_to_string(run_dir.join(format!("slurm-{array}_{t}.out")))
                .expect("each task's output")
        })
        .collect();
    for i in 1..=n {
        let me = format!("shard {i}/{n} (from the Slurm array)");
        assert!(task_logs.contains(&me), "{me}: {task_logs}");
    }
    assert!(
        epochs.windows(2).all(|w| w[0] == w[1]),
        "one common start: {epochs:?}"
    );
    let merged = read(&run_dir.join("merged"));
    let truth = mock.truth();
    assert_eq!(merged.status, RunStatus::Complete);
    assert_eq!(merged.merged_from.as_ref().map(|m| m.count), Some(n));
    assert_eq!(requests(&merged), truth.requests, "the mock's count");
    assert_eq!(requests(&merged), sum, "the shards' sum");
    assert_eq!(sum, u64::from(rate) * seconds, "rate × duration");
    assert_eq!(merged.epoch_us, epochs[0]);
    assert!(
        merged.slo.iter().any(|s| s.slo == "errors<1%" && s.passed),
        "{:?}",
        merged.slo
    );
}

/// A shard that fails (here: a flag voxload does not know, exit 2) fails
/// its array task, and the merge job is cancelled for good rather than
/// left pending (`--kill-on-invalid-dep`).
#[test]
fn slurm_merge_is_cancelled_when_a_shard_fails() {
    let how = "a Slurm cluster: bash deploy/slurm/setup-local.sh (.ci/run runs it)";
    if !common::external("sbatch", how) {
        return;
    }
    let up = run("scontrol", &["ping"]).contains("is UP");
    if !common::external_up(up, "slurmctld does not answer `scontrol ping`", how) {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("results");
    let o = Command::new("bash")
        .arg(deploy().join("slurm/submit.sh"))
        .args(["-n", "2", "-b", bin(), "-o"])
        .arg(&out)
        .args(["broken", "--", "tts", "--url", "http://127.0.0.1:9"])
        .arg("--no-such-flag")
        .current_dir(dir.path())
        .output()
        .expect("submit.sh runs");
    let said = text(&o);
    assert!(o.status.success(), "submit.sh: {said}");
    let (array, merge) = job_ids(&said);
    let jobs = Jobs(vec![array.clone(), merge.clone()]);
    wait_for_jobs(&jobs, Duration::from_secs(120), &out.join("broken"));
    let tasks = job_states(&array);
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    for (state, exit) in &tasks {
        assert_eq!((state.as_str(), exit.as_str()), ("FAILED", "2:0"));
    }
    let show = run("scontrol", &["show", "job", &merge]);
    assert!(
        show.contains("JobState=CANCELLED") && show.contains("DependencyNeverSatisfied"),
        "{show}"
    );
    assert!(!out.join("broken/merged").exists(), "nothing merged");
}

/// The array's and the merge job's ids, as submit.sh prints them.
fn job_ids(said: &str) -> (String, String) {
    let id = |what: &str| {
        said.lines()
            .find_map(|l| l.strip_prefix(what))
            .unwrap_or_else(|| panic!("no '{what}' in {said}"))
            .trim()
            .to_string()
    };
    (id("array "), id("merge "))
}
