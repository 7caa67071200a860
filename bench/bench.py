#!/usr/bin/env python3
"""voxload performance benchmarks (Python 3.11 standard library only).

Usually started by bench/run.sh, which installs the tools and builds voxload.
Every load run is bounded in request count and/or time and stops by itself;
all traffic goes to 127.0.0.1.

    python3 bench/bench.py [--only 1,2,3,4,5]      (QUICK=1 for short runs)

Environment: VOXLOAD (binary, default target/release/voxload), QUICK=1,
ROUNDS (benchmark 1's rounds per tool, default 3),
BENCH_OUT (default bench/out), OHA / WRK (tool paths), GEN_CPU / SRV_CPU
(cores for the generator and the mock, default 0 and 1), BENCH_PORT.
Writes BENCH_OUT/summary.json and BENCH_OUT/summary.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = Path(os.environ.get("BENCH_OUT", BENCH / "out")).resolve()
QUICK = os.environ.get("QUICK", "0") not in ("", "0")
VOX = os.environ.get("VOXLOAD", str(ROOT / "target" / "release" / "voxload"))
# Benchmark 1 only: more voxload builds in the same rounds, "name=/path,...",
# each a column "voxload-name" (e.g. two parsers compared on one machine state).
VOX_ALT = dict(x.split("=", 1) for x in os.environ.get("VOXLOAD_ALT", "").split(",") if x)
OHA = os.environ.get("OHA") or shutil.which("oha") or str(Path.home() / ".cargo/bin/oha")
WRK = os.environ.get("WRK") or shutil.which("wrk") or "wrk"
GEN_CPU = os.environ.get("GEN_CPU", "0")
SRV_CPU = os.environ.get("SRV_CPU", "1")
PORT = int(os.environ.get("BENCH_PORT", "18931"))
# The machine is shared: other jobs' compilers run on both cores. Generator and
# mock run at this nice level (negative needs root; ignored when not allowed)
# so latency figures measure the tools, not the neighbours. CPU-second
# figures do not depend on it. BENCH_NICE=0 turns it off.
NICE = int(os.environ.get("BENCH_NICE", "-19"))
HOST = "127.0.0.1"
URL = f"http://{HOST}:{PORT}"
SPEECH = f"{URL}/v1/audio/speech"
CLK = os.sysconf("SC_CLK_TCK")

# The exact body voxload sends for "Hi." (serde_json writes keys sorted);
# bench/post.lua carries the same string for wrk.
BODY = '{"input":"Hi.","model":"tts-1","response_format":"wav","voice":"alloy"}'
# An instant, tiny answer: no overhead, synthesis "infinitely" fast, one
# buffered body; 1000 chars/s makes "Hi." 3 ms of audio = 144 bytes + header.
INSTANT_MOCK = [
    "--overhead", "0ms", "--speed", "1000000", "--no-streaming",
    "--chars-per-second", "1000", "--slots", "4096", "--queue", "4096",
]
WANT_NOFILE = 65536


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- /proc


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a whole process (all threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= WANT_NOFILE:
        return WANT_NOFILE
    return hard


def raise_nofile() -> None:
    """preexec_fn of every child: open-files limit up, priority up."""
    n = nofile_limit()
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(n, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    except (ValueError, OSError):
        pass
    if NICE:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, NICE)
        except OSError:
            pass


def cores_busy() -> dict[str, float]:
    """Busy seconds per CPU since boot, from /proc/stat (user..steal, no idle/iowait)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                v = [int(x) for x in parts[1:9]]
                out[parts[0][3:]] = (sum(v) - v[3] - v[4]) / CLK
                out[parts[0][3:] + "_softirq"] = (v[5] + v[6]) / CLK
    return out


def established(port: int) -> int:
    """Client-side TCP connections to `port` in state ESTABLISHED (/proc/net/tcp)."""
    n = 0
    want = f":{port:04X}"
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[2].endswith(want) and parts[3] == "01":
                        n += 1
        except OSError:
            pass
    return n


# ---------------------------------------------------------------- HTTP


def http(method: str, path: str, timeout: float = 15.0) -> bytes:
    req = urllib.request.Request(URL + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def truth() -> dict:
    return json.loads(http("GET", "/mock/truth"))


# ---------------------------------------------------------------- processes


class Mock:
    """`voxload mock` pinned to SRV_CPU."""

    def __init__(self, flags: list[str], tag: str):
        self.log_path = OUT / "logs" / f"mock-{tag}.log"
        self.logf = open(self.log_path, "w")
        cmd = ["taskset", "-c", SRV_CPU, VOX, "mock", "--host", HOST, "--port", str(PORT), *flags]
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
        deadline = time.monotonic() + 15
        while True:
            try:
                http("GET", "/health", timeout=1)
                break
            except OSError:
                if self.p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mock did not start: see {self.log_path}")
                time.sleep(0.05)

    def cpu(self) -> float:
        return proc_cpu_s(self.p.pid)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run_gen(cmd: list[str], tag: str, limit_s: float, poll=None, poll_every: float = 1.0,
            stdout_path: Path | None = None) -> dict:
    """Run a generator pinned to GEN_CPU; its own CPU time comes from wait4's rusage.

    `poll(pid, elapsed) -> "stop" | None` is called every `poll_every` s.
    Past `limit_s` the generator gets SIGINT, then SIGKILL 20 s later.
    """
    full = ["taskset", "-c", GEN_CPU, *cmd]
    out_path = stdout_path or OUT / "logs" / f"{tag}.log"
    with open(out_path, "w") as outf:
        outf.write("$ " + " ".join(full) + "\n")
        outf.flush()
        busy0 = cores_busy()
        t0 = time.monotonic()
        p = subprocess.Popen(full, stdout=outf, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
        next_poll = t0 + poll_every
        sigint_at = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            now = time.monotonic()
            if poll and now >= next_poll:
                next_poll = now + poll_every
                if poll(p.pid, now - t0) == "stop" and sigint_at is None:
                    p.send_signal(signal.SIGINT)
                    sigint_at = now
            if sigint_at is None and now - t0 > limit_s:
                log(f"{tag}: over its {limit_s:.0f} s limit, sending SIGINT")
                p.send_signal(signal.SIGINT)
                sigint_at = now
            if sigint_at is not None and now - sigint_at > 20:
                log(f"{tag}: still running 20 s after SIGINT, killing")
                p.kill()
            time.sleep(0.02)
        wall = time.monotonic() - t0
        busy1 = cores_busy()
    p.returncode = os.waitstatus_to_exitcode(status)
    busy = {c: (busy1[c] - busy0.get(c, 0)) / wall for c in busy1}
    return {
        "cmd": " ".join(full),
        "rc": p.returncode,
        "wall_s": wall,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_kib": ru.ru_maxrss,
        "log": str(out_path),
        # Share of each core busy during the run (everything: us, the mock, others).
        "core_busy": {c: round(v, 3) for c, v in busy.items()},
        # Busy share of the generator's core not explained by the generator itself.
        # (interrupt time, mostly loopback packet processing for our own traffic, excluded)
        "foreign_on_gen_core": round(busy.get(GEN_CPU, 0) - busy.get(GEN_CPU + "_softirq", 0)
                                     - (ru.ru_utime + ru.ru_stime) / wall, 3),
    }


def vox_tts(name: str, *flags: str) -> list[str]:
    return [VOX, "tts", "--url", URL, "--out", str(OUT / "results"), "--name", name,
            "--quiet", "--no-sanity", *flags]


def vox_result(name: str) -> dict:
    return json.loads((OUT / "results" / name / "result.json").read_text())


def texts_file(name: str, text: str) -> Path:
    p = OUT / f"{name}.txt"
    p.write_text(text + "\n")
    return p


def fresh(name: str) -> None:
    d = OUT / "results" / name
    if d.exists():
        shutil.rmtree(d)


def metric(stage: dict, name: str) -> dict:
    return stage["summary"]["metrics"].get(name) or {}


def have(tool: str) -> bool:
    return shutil.which(tool) is not None or Path(tool).is_file()


# ---------------------------------------------------------------- 1 throughput


def bench_throughput() -> dict:
    dur = 3 if QUICK else 10
    rounds = int(os.environ.get("ROUNDS") or (1 if QUICK else 3))
    hi = texts_file("hi", "Hi.")
    tools = ["voxload", *(f"voxload-{n}" for n in VOX_ALT)]
    skipped = {}
    if have(OHA):
        # oha's default runtime has one worker per *physical core of the
        # machine* (2 here) even when pinned to one core; "oha-1t" gives it the
        # single worker voxload gets from the affinity mask, to be fair to oha.
        tools += ["oha", "oha-1t"]
    else:
        skipped["oha"] = f"oha not found ({OHA}); install with `cargo install oha --locked`"
    if have(WRK):
        tools.append("wrk")
    else:
        skipped["wrk"] = "wrk not found; install with `apt-get install -y wrk`"
    for t, why in skipped.items():
        log(f"SKIP {t}: {why}")
    runs = []
    with Mock(INSTANT_MOCK, "b1") as mock:
        # Warm the mock (first connections, allocator) outside the measurement.
        run_gen(vox_tts("b1-warmup", "--concurrency", "64", "--requests", "2000",
                        "--texts", str(hi), "--format", "wav"), "b1-warmup", 60)
        for r in range(rounds):
            for tool in tools:
                tag = f"b1-{tool}-r{r}"
                http("POST", "/mock/reset-truth")
                m0 = mock.cpu()
                if tool.startswith("voxload"):
                    fresh(tag)
                    cmd = vox_tts(tag, "--concurrency", "64", "--duration", f"{dur}s",
                                  "--texts", str(hi), "--format", "wav")
                    if tool != "voxload":
                        cmd[0] = VOX_ALT[tool.removeprefix("voxload-")]
                elif tool.startswith("oha"):
                    threads = ["--worker-threads", "1"] if tool == "oha-1t" else []
                    cmd = [OHA, *threads, "-c", "64", "-z", f"{dur}s", "-m", "POST", "-H",
                           "content-type: application/json", "-d", BODY, "--no-tui",
                           "--output-format", "json", SPEECH]
                else:
                    cmd = [WRK, "-t1", "-c64", f"-d{dur}s", "-s", str(BENCH / "post.lua"), SPEECH]
                res = run_gen(cmd, tag, dur + 60)
                m1 = mock.cpu()
                tr = truth()
                res.update(tool=tool, round=r, mock_cpu_s=m1 - m0,
                           mock_core_util=(m1 - m0) / res["wall_s"],
                           mock_requests=tr["requests"], mock_ok=tr["ok"])
                text = Path(res["log"]).read_text()
                if tool.startswith("voxload"):
                    st = vox_result(tag)["stages"][0]
                    s = st["summary"]
                    res["ok"] = s["ok"]
                    res["tool_summary"] = {k: v for k, v in s.items() if k != "metrics"}
                    res["tool_s"] = st["wall_s"]
                elif tool.startswith("oha"):
                    body = text.split("\n", 1)[1]  # first line is the command
                    j = json.loads(body[body.index("{"):])
                    res["ok"] = int(j.get("statusCodeDistribution", {}).get("200", 0))
                    res["tool_s"] = j["summary"]["total"]
                    res["tool_summary"] = j["summary"]
                else:
                    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
                    n = int(m.group(1))
                    secs = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
                    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
                    res["ok"] = n - (int(non2xx.group(1)) if non2xx else 0)
                    res["tool_s"] = secs
                    res["tool_summary"] = {"requests": n, "seconds": secs}
                res["rps"] = res["ok"] / res["tool_s"]
                res["req_per_cpu_s"] = res["ok"] / res["cpu_s"]
                log(f"{tag}: {res['ok']} ok, {res['rps']:.0f} req/s, gen cpu {res['cpu_s']:.2f} s "
                    f"({res['cpu_s'] / res['wall_s'] * 100:.0f}% of a core) -> {res['req_per_cpu_s']:.0f} req/cpu-s; "
                    f"mock core {res['mock_core_util'] * 100:.0f}%; others on gen core {res['foreign_on_gen_core'] * 100:.0f}%")
                runs.append(res)
    per_tool = {}
    for tool in tools:
        rs = [r for r in runs if r["tool"] == tool]
        per_tool[tool] = {
            "rps_median": statistics.median(r["rps"] for r in rs),
            "cpu_s_median": statistics.median(r["cpu_s"] for r in rs),
            "req_per_cpu_s_median": statistics.median(r["req_per_cpu_s"] for r in rs),
            "req_per_cpu_s_all": [round(r["req_per_cpu_s"]) for r in rs],
            "gen_core_util_median": statistics.median(r["cpu_s"] / r["wall_s"] for r in rs),
            "mock_core_util_median": statistics.median(r["mock_core_util"] for r in rs),
            "foreign_on_gen_core_median": statistics.median(r["foreign_on_gen_core"] for r in rs),
        }
    v = per_tool["voxload"]["req_per_cpu_s_median"]
    ratios = {f"voxload/{t}": v / per_tool[t]["req_per_cpu_s_median"]
              for t in per_tool if not t.startswith("voxload")}
    for t in per_tool:
        if t.startswith("voxload-"):
            ratios[f"{t}/voxload"] = per_tool[t]["req_per_cpu_s_median"] / v
    if "oha" in per_tool and "wrk" in per_tool:
        ratios["oha/wrk"] = per_tool["oha"]["req_per_cpu_s_median"] / per_tool["wrk"]["req_per_cpu_s_median"]
    if "oha" in per_tool:
        best_oha = max(per_tool[t]["req_per_cpu_s_median"] for t in ("oha", "oha-1t") if t in per_tool)
        ratios["voxload/best-oha"] = v / best_oha
        for t in per_tool:
            if t.startswith("voxload-"):
                ratios[f"{t}/best-oha"] = per_tool[t]["req_per_cpu_s_median"] / best_oha
    goal = ratios.get("voxload/best-oha")
    return {"duration_s": dur, "rounds": rounds, "runs": runs, "per_tool": per_tool,
            "ratios": ratios, "skipped": skipped,
            "goal": "voxload >= 1.1x oha requests per generator CPU-second (against the better of oha and oha-1t)",
            "met": None if goal is None else goal >= 1.1}


# ---------------------------------------------------------------- 2 open loop


def bench_open_loop() -> dict:
    dur = 3 if QUICK else 10
    rate = 10000
    hi = texts_file("hi", "Hi.")
    tag = "b2-open-10k"
    fresh(tag)
    conns = []

    def poll(pid, elapsed):
        conns.append((round(elapsed, 1), established(PORT)))

    with Mock(INSTANT_MOCK, "b2") as mock:
        m0 = mock.cpu()
        res = run_gen(vox_tts(tag, "--rate", str(rate), "--duration", f"{dur}s",
                              "--texts", str(hi), "--format", "wav"), tag, dur + 60,
                      poll=poll, poll_every=0.5)
        m1 = mock.cpu()
        tr = truth()
    try:
        st = vox_result(tag)["stages"][0]
    except FileNotFoundError:
        # voxload could not write result.json (seen: EMFILE after a
        # connection storm); rebuild the key figures from requests.jsonl.
        log(f"{tag}: result.json missing (voxload exit {res['rc']}); using requests.jsonl")
        st = jsonl_stage(OUT / "results" / tag / "requests.jsonl", dur)
    s = st["summary"]
    lag = metric(st, "schedule_lag")
    e2e = metric(st, "e2e")
    issued = st["issued"]
    out = {
        "result_json_written": not st.get("from_jsonl", False),
        "connections": conns, "peak_connections": max((c for _, c in conns), default=0),
        "target_rps": rate, "duration_s": dur, "gen": res,
        "offered_rps": st.get("offered_rps"),
        "issued": issued, "issued_per_duration": issued / dur,
        "achieved_rps": s.get("achieved_rps"),
        "summary": {k: v for k, v in s.items() if k != "metrics"},
        "schedule_lag_ms": lag, "e2e_ms": e2e,
        "mock_requests": tr["requests"], "mock_core_util": (m1 - m0) / res["wall_s"],
        "gen_core_util": res["cpu_s"] / res["wall_s"],
    }
    if out["offered_rps"] is None and issued:
        # without result.json: arrivals span (issued - 1) gaps of 1/rate
        out["offered_rps_note"] = "result.json missing; offered rate unknown, issued/duration used"
    off = out["offered_rps"] or out["issued_per_duration"]
    within = abs(off - rate) / rate <= 0.01 and abs(out["issued_per_duration"] - rate) / rate <= 0.01
    out["rate_met"] = within
    out["lag_met"] = lag.get("p99") is not None and lag["p99"] <= 1.0
    out["met"] = out["rate_met"] and out["lag_met"]
    log(f"{tag}: offered {off:.1f}/s, issued {issued} ({out['issued_per_duration']:.1f}/s), "
        f"achieved {out['achieved_rps']}, schedule_lag p50 {lag.get('p50')} p99 {lag.get('p99')} max {lag.get('max')} ms, "
        f"gen core {out['gen_core_util'] * 100:.0f}%, mock core {out['mock_core_util'] * 100:.0f}%, "
        f"peak connections {out['peak_connections']}, failed {s.get('failed')}")
    return out


def jsonl_stage(path: Path, dur: float) -> dict:
    """A stage-like dict from requests.jsonl alone (nearest-rank percentiles)."""
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ok = [r for r in recs if not r.get("error")]
    errors: dict[str, int] = {}
    for r in recs:
        if r.get("error"):
            k = r["error"].get("class", "?") + ": " + (r.get("error_detail") or "")[:80]
            errors[k] = errors.get(k, 0) + 1

    def dist(vals):
        if not vals:
            return {}
        return {"count": len(vals), "p50": pct(vals, 0.5), "p99": pct(vals, 0.99), "max": max(vals)}

    end = max((r["end_us"] for r in recs), default=0) / 1e6
    return {"from_jsonl": True, "issued": len(recs), "offered_rps": None,
            "summary": {"requests": len(recs), "ok": len(ok), "failed": len(recs) - len(ok),
                        "achieved_rps": len(recs) / end if end else None, "errors": errors,
                        "metrics": {"schedule_lag": dist([r.get("schedule_lag_us", 0) / 1000 for r in recs]),
                                    "e2e": dist([r["e2e_us"] / 1000 for r in ok if r.get("e2e_us") is not None])}}}


# ---------------------------------------------------------------- 3 many streams


LONG_TEXT = ("The quick brown fox jumps over the lazy dog while the patient narrator keeps "
             "reading this sentence aloud, slowly and clearly, for a very long time indeed.")


def bench_streams() -> dict:
    n_big = 10000
    n_small = 10
    spawn = 2000
    txt = texts_file("long", LONG_TEXT)
    nofile = nofile_limit()
    # 0.05x real time: 150 chars = 10 s of audio take 200 s to stream, a
    # 100 ms chunk every 2 s; every stream stays open for the whole sample.
    mock_flags = ["--slots", "20000", "--queue", "0", "--speed", "0.05", "--overhead", "0ms"]
    out = {"nofile": nofile, "text_chars": len(LONG_TEXT), "mock_flags": mock_flags}
    if nofile < n_big + 200:
        log(f"SKIP streams: open-files limit {nofile} < {n_big + 200}")
        out["skipped"] = f"open-files limit {nofile}"
        return out
    for n in (n_small, n_big):
        tag = f"b3-streams-{n}"
        fresh(tag)
        state = {"open_at": None, "samples": [], "peak_in_flight": 0}
        settle = 3.0
        sample_for = 3.0 if QUICK else 6.0

        def poll(pid, elapsed, n=n, state=state):
            tr = json.loads(http("GET", "/mock/truth"))
            inflight = tr["in_flight_now"]
            state["peak_in_flight"] = max(state["peak_in_flight"], inflight)
            rss = rss_kib(pid)
            if state["open_at"] is None and inflight >= n:
                state["open_at"] = elapsed
                state["rss_at_open"] = rss
                log(f"{tag}: all {n} streams open after {elapsed:.1f} s, generator RSS {rss} KiB")
            if state["open_at"] is not None and elapsed >= state["open_at"] + settle:
                state["samples"].append({"t": round(elapsed, 2), "rss_kib": rss, "in_flight": inflight,
                                         "mock_rss_kib": rss_kib(mock.p.pid)})
                if elapsed >= state["open_at"] + settle + sample_for:
                    return "stop"
            return None

        with Mock(mock_flags, tag) as mock:
            res = run_gen(vox_tts(tag, "--concurrency", str(n), "--requests", str(n),
                                  "--spawn-rate", str(spawn), "--timeout", "10m", "--grace", "1s",
                                  "--duration", "120s", "--texts", str(txt)),
                          tag, 90, poll=poll, poll_every=0.5)
        ok = [s for s in state["samples"] if s["in_flight"] >= n]
        out[str(n)] = {
            "gen": res, "open_after_s": state["open_at"], "rss_at_open_kib": state.get("rss_at_open"),
            "samples": state["samples"], "peak_in_flight": state["peak_in_flight"],
            "rss_kib_median": statistics.median(s["rss_kib"] for s in ok) if ok else None,
            "rss_kib_max": max(s["rss_kib"] for s in ok) if ok else None,
        }
        log(f"{tag}: median RSS with {n} open {out[str(n)]['rss_kib_median']} KiB "
            f"(max {out[str(n)]['rss_kib_max']}), peak in flight {state['peak_in_flight']}")
    a, b = out[str(n_small)]["rss_kib_median"], out[str(n_big)]["rss_kib_median"]
    if a is not None and b is not None:
        per = (b - a) / (n_big - n_small)
        out["per_stream_kib"] = per
        out["per_stream_kib_from_max"] = (out[str(n_big)]["rss_kib_max"] - out[str(n_small)]["rss_kib_max"]) / (n_big - n_small)
        out["met"] = per <= 10.0
        log(f"streams: ({b} - {a}) KiB / {n_big - n_small} = {per:.2f} KiB per open stream")
    else:
        out["met"] = False
    return out


# ---------------------------------------------------------------- 4 memory over time


def bench_memory() -> dict:
    total = 1_000_000 if QUICK else 5_000_000
    limit = 150 if QUICK else 360  # the issue: report what was reached if 5 M takes > 6 min
    hi = texts_file("hi", "Hi.")
    tag = "b4-memory"
    fresh(tag)
    curve = []

    def poll(pid, elapsed):
        # /mock/truth carries the last 10 000 requests; it is a few MB of JSON,
        # so poll it only every few seconds.
        reqs = json.loads(http("GET", "/mock/truth", timeout=30))["requests"]
        curve.append({"t": round(elapsed, 1), "requests": reqs, "rss_kib": rss_kib(pid),
                      "cpu_s": proc_cpu_s(pid)})
        return None

    with Mock(INSTANT_MOCK, "b4") as mock:
        # RSS is sampled every 3 s (~150k requests): run past 5 M so that one
        # sample lands after it (a run of exactly 5 M ended between samples).
        issue = total if QUICK else total + 300_000
        res = run_gen(vox_tts(tag, "--concurrency", "64", "--requests", str(issue),
                              "--duration", f"{limit}s", "--texts", str(hi), "--format", "wav"),
                      tag, limit + 30, poll=poll, poll_every=3.0)
        tr = truth()
    st = vox_result(tag)["stages"][0]

    def first_past(n):
        return next((c for c in curve if c["requests"] >= n), None)

    at1 = first_past(1_000_000)
    at5 = first_past(5_000_000) if not QUICK else None
    last = curve[-1] if curve else None
    out = {"requests_target": total, "gen": res, "curve": curve, "mock_requests": tr["requests"],
           "issued": st["issued"], "wall_s": st["wall_s"],
           "achieved_rps": st["summary"].get("achieved_rps"),
           "at_1m": at1, "at_5m": at5, "last": last}
    end = at5 or last
    if at1 and end and end is not at1:
        out["growth_1m_to_end"] = (end["rss_kib"] - at1["rss_kib"]) / at1["rss_kib"]
        dt = end["t"] - at1["t"]
        dn = end["requests"] - at1["requests"]
        out["growth_kib_per_s"] = (end["rss_kib"] - at1["rss_kib"]) / dt if dt else None
        out["growth_bytes_per_request"] = (end["rss_kib"] - at1["rss_kib"]) * 1024 / dn if dn else None
        out["met"] = (at5 is not None) and out["growth_1m_to_end"] <= 0.10
    else:
        out["met"] = False
    # The 5 M run leaves a multi-GB requests.jsonl; keep the line count only.
    j = OUT / "results" / tag / "requests.jsonl"
    if j.exists():
        out["requests_jsonl_bytes"] = j.stat().st_size
        j.unlink()
    log(f"{tag}: issued {st['issued']} in {st['wall_s']:.0f} s; RSS at 1M {at1 and at1['rss_kib']} KiB, "
        f"at 5M {at5 and at5['rss_kib']} KiB, growth {out.get('growth_1m_to_end')}")
    return out


# ---------------------------------------------------------------- 5 accuracy


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    # nearest-rank, as HDR histograms do
    k = max(0, min(len(v) - 1, int(round(q * len(v) + 0.5)) - 1))
    return v[k]


def bench_accuracy() -> dict:
    """Repeated runs: the figure moves by a few tenths of a ms from run to run."""
    reps = 1 if QUICK else 3
    runs = [accuracy_once(f"b5-accuracy-{i}") for i in range(reps)]
    diffs = [r["diff_vs_server_ms"] for r in runs if r.get("diff_vs_server_ms") is not None]
    out = dict(runs[len(runs) // 2]) if reps == 1 else {}
    out.update(runs=runs, repeats=reps,
               diff_vs_server_ms_all=[round(d, 3) for d in diffs],
               diff_vs_server_ms=statistics.median(diffs) if diffs else None)
    if reps > 1:
        # the run whose difference is the median, for the table
        mid = sorted(runs, key=lambda r: r.get("diff_vs_server_ms") or 0)[len(runs) // 2]
        for k in ("voxload_e2e_ms", "server_last_audio_p50_ms", "schedule_lag_ms", "paired", "diff_vs_nominal_ms"):
            out[k] = mid.get(k)
    out["met"] = out["diff_vs_server_ms"] is not None and abs(out["diff_vs_server_ms"]) <= 0.3
    return out


def accuracy_once(tag: str) -> dict:
    dur = 5 if QUICK else 20
    hi = texts_file("hi", "Hi.")
    fresh(tag)
    with Mock(["--overhead", "50ms", "--speed", "1000000", "--no-streaming"], "b5"):
        http("POST", "/mock/reset-truth")
        res = run_gen(vox_tts(tag, "--rate", "200", "--duration", f"{dur}s",
                              "--texts", str(hi), "--format", "wav"), tag, dur + 60)
        tr = truth()
    st = vox_result(tag)["stages"][0]
    e2e = metric(st, "e2e")
    ttfa = metric(st, "ttfa")
    recent = [r for r in tr["recent"] if r["status"] == 200 and r["last_audio_us"] is not None]
    last = [r["last_audio_us"] / 1000 for r in recent]
    first = [r["first_audio_us"] / 1000 for r in recent]
    raw, recs = [], []
    jl = OUT / "results" / tag / "requests.jsonl"
    for line in jl.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("error") is None and rec.get("e2e_us") is not None:
            raw.append(rec["e2e_us"] / 1000)
            recs.append(rec)
    # Pair requests one to one: arrivals are 5 ms apart, so the mock receives
    # them in send order (its ids increase) and voxload's seq is send order.
    recs.sort(key=lambda r: r["seq"])
    srv = sorted(recent, key=lambda r: r["id"])
    paired = None
    if len(recs) == len(srv) and recs:
        d_total = [(a["e2e_us"] - b["last_audio_us"]) / 1000 for a, b in zip(recs, srv)]
        d_wire = [(a["e2e_us"] - a.get("schedule_lag_us", 0) - b["last_audio_us"]) / 1000 for a, b in zip(recs, srv)]
        lag = [a.get("schedule_lag_us", 0) / 1000 for a in recs]
        paired = {"n": len(recs),
                  "e2e_minus_server_p50_ms": statistics.median(d_total),
                  "e2e_minus_server_p90_ms": pct(d_total, 0.9),
                  "send_to_last_byte_minus_server_p50_ms": statistics.median(d_wire),
                  "send_to_last_byte_minus_server_p90_ms": pct(d_wire, 0.9),
                  "schedule_lag_p50_ms": statistics.median(lag)}
    out = {
        "gen": res, "rate": 200, "duration_s": dur,
        "voxload_e2e_ms": e2e, "voxload_ttfa_ms": ttfa,
        "schedule_lag_ms": metric(st, "schedule_lag"),
        "server_requests": len(recent),
        "server_last_audio_p50_ms": statistics.median(last) if last else None,
        "server_first_audio_p50_ms": statistics.median(first) if first else None,
        "server_last_audio_min_max_ms": [min(last), max(last)] if last else None,
        "requests_jsonl_e2e_p50_ms": statistics.median(raw) if raw else None,
        "requests_jsonl_count": len(raw),
        "nominal_ms": 50.0,
        "paired": paired,
    }
    if e2e.get("p50") is not None and last:
        out["diff_vs_server_ms"] = e2e["p50"] - out["server_last_audio_p50_ms"]
        out["diff_vs_nominal_ms"] = e2e["p50"] - 50.0
        out["met"] = abs(out["diff_vs_server_ms"]) <= 0.3
    else:
        out["met"] = False
    log(f"{tag}: voxload e2e p50 {e2e.get('p50')} ms, server last_audio p50 "
        f"{out['server_last_audio_p50_ms']} ms, diff {out.get('diff_vs_server_ms')} ms")
    return out


# ---------------------------------------------------------------- report


def fmt(x, nd=2):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def met(x):
    return {True: "**met**", False: "**not met**", None: "n/a"}[x]


def summary_md(r: dict) -> str:
    lines = [f"# voxload benchmark run {r['date']}", "",
             f"machine: {r['machine']}", f"versions: {r['versions']}", f"quick: {QUICK}", ""]
    b = r.get("1")
    if b:
        lines += ["## 1. Throughput per generator CPU-second (64 connections, tiny non-streaming)", "",
                  "| tool | req/s (median) | generator CPU (% of a core) | req per CPU-second (median) | all rounds | mock core | others on gen core |",
                  "|---|---:|---:|---:|---|---:|---:|"]
        for t, p in b["per_tool"].items():
            lines.append(f"| {t} | {p['rps_median']:,.0f} | {p['gen_core_util_median'] * 100:.0f}% | "
                         f"{p['req_per_cpu_s_median']:,.0f} | {p['req_per_cpu_s_all']} | {p['mock_core_util_median'] * 100:.0f}% | "
                         f"{p['foreign_on_gen_core_median'] * 100:.0f}% |")
        lines += ["", "ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in b["ratios"].items()),
                  f"goal {b['goal']}: {met(b['met'])}", ""]
    b = r.get("2")
    if b:
        lag = b["schedule_lag_ms"]
        lines += ["## 2. Open loop 10,000 req/s", "",
                  "| offered_rps | issued / duration | achieved_rps | schedule_lag p50 | p99 | max | gen core | mock core |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {fmt(b['offered_rps'], 1)} | {fmt(b['issued_per_duration'], 1)} | {fmt(b['achieved_rps'], 1)} | "
                  f"{fmt(lag.get('p50'), 3)} ms | {fmt(lag.get('p99'), 3)} ms | {fmt(lag.get('max'), 3)} ms | "
                  f"{b['gen_core_util'] * 100:.0f}% | {b['mock_core_util'] * 100:.0f}% |", "",
                  f"rate within 1 %: {met(b['rate_met'])}; schedule lag p99 <= 1 ms: {met(b['lag_met'])}; "
                  f"failed {b['summary'].get('failed')}, peak connections {b['peak_connections']}, "
                  f"result.json written: {b['result_json_written']}", ""]
    b = r.get("3")
    if b:
        lines += ["## 3. Memory per open slow stream", ""]
        if "skipped" in b:
            lines.append(f"skipped: {b['skipped']}")
        else:
            for n in ("10", "10000"):
                x = b[n]
                lines.append(f"- {n} open: RSS median {fmt(x['rss_kib_median'])} KiB, max {fmt(x['rss_kib_max'])} KiB, "
                             f"all open after {fmt(x['open_after_s'])} s, peak in flight {x['peak_in_flight']}")
            lines += ["", f"per stream: {fmt(b.get('per_stream_kib'))} KiB (goal <= 10 KB): {met(b.get('met'))}", ""]
    b = r.get("4")
    if b:
        a1, a5, last = b["at_1m"], b["at_5m"], b["last"]
        lines += ["## 4. RSS over many requests", "",
                  f"- issued {b['issued']:,} in {b['wall_s']:.0f} s ({fmt(b['achieved_rps'], 0)} req/s)",
                  f"- RSS at 1 M: {a1 and a1['rss_kib']} KiB (t={a1 and a1['t']} s); at 5 M: {a5 and a5['rss_kib']} KiB; "
                  f"last sample: {last and last['rss_kib']} KiB at {last and last['requests']:,} requests",
                  f"- growth: {fmt(b.get('growth_1m_to_end') and b['growth_1m_to_end'] * 100)} % (goal <= 10 %): {met(b['met'])}; "
                  f"{fmt(b.get('growth_kib_per_s'))} KiB per wall second, {fmt(b.get('growth_bytes_per_request'), 3)} bytes per request", ""]
    b = r.get("5")
    if b:
        lines += ["## 5. e2e p50 vs server truth (200 req/s, 50 ms service time)", "",
                  f"- median run: voxload e2e p50 {fmt(b['voxload_e2e_ms'].get('p50'), 3)} ms; server last_audio p50 "
                  f"{fmt(b['server_last_audio_p50_ms'], 3)} ms; difference (median of {b['repeats']} runs) {fmt(b.get('diff_vs_server_ms'), 3)} ms, "
                  f"all runs {b['diff_vs_server_ms_all']} "
                  f"(vs nominal 50 ms: {fmt(b.get('diff_vs_nominal_ms'), 3)} ms)",
                  f"- paired per request: {b.get('paired')}",
                  f"- schedule lag p50 {fmt(b['schedule_lag_ms'].get('p50'), 3)} ms (included in open-loop e2e by definition)",
                  f"- goal |difference| <= 0.3 ms: {met(b['met'])}", ""]
    return "\n".join(lines)


def versions() -> dict:
    def cmd(c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=10).stdout.strip() or \
                subprocess.run(c, capture_output=True, text=True, timeout=10).stderr.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "missing"
    git = cmd(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = cmd(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])
    wrk_v = cmd([WRK, "-v"]).splitlines()
    desc = os.environ.get("VOXLOAD_DESC") or f"working tree at {git}" + (" + uncommitted changes" if dirty and dirty != "missing" else "")
    return {"voxload_build": desc, "repo_head": git,
            "voxload": cmd([VOX, "--version"]), "oha": cmd([OHA, "--version"]),
            "wrk": wrk_v[0] if wrk_v else "missing", "rustc": cmd(["rustc", "--version"])}


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({model}), {mem:.0f} GiB RAM, kernel {os.uname().release}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="1,2,3,4,5", help="comma-separated benchmark numbers")
    args = ap.parse_args()
    (OUT / "logs").mkdir(parents=True, exist_ok=True)
    (OUT / "results").mkdir(parents=True, exist_ok=True)
    if not Path(VOX).is_file():
        print(f"voxload binary not found at {VOX}; run `cargo build --release` first", file=sys.stderr)
        return 2
    if not shutil.which("taskset"):
        print("taskset (util-linux) is required", file=sys.stderr)
        return 2
    r = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(), "versions": versions(),
         "quick": QUICK, "gen_cpu": GEN_CPU, "srv_cpu": SRV_CPU}
    log(f"machine: {r['machine']}; versions: {r['versions']}; QUICK={int(QUICK)}")
    benches = {"1": bench_throughput, "2": bench_open_loop, "3": bench_streams,
               "4": bench_memory, "5": bench_accuracy}
    t0 = time.monotonic()
    for k in args.only.split(","):
        k = k.strip()
        log(f"=== benchmark {k} ===")
        try:
            r[k] = benches[k]()
        except Exception as e:  # keep going: one broken benchmark must not hide the others
            import traceback
            traceback.print_exc()
            r[k + "_error"] = repr(e)
            log(f"benchmark {k} FAILED: {e!r}")
        (OUT / "summary.json").write_text(json.dumps(r, indent=2, default=str))
    r["total_s"] = time.monotonic() - t0
    (OUT / "summary.json").write_text(json.dumps(r, indent=2, default=str))
    md = summary_md(r)
    (OUT / "summary.md").write_text(md)
    print("\n" + md)
    log(f"done in {r['total_s']:.0f} s; details in {OUT}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
