#!/usr/bin/env bash
# Benchmark of `voxload merge`: 64 shard folders of a 1-hour run, time and
# peak memory (BENCHMARKS.md, "Issue 14").
#
#   bench/merge.sh                  build release, make the shards, merge (~1 min after the build)
#   VOXLOAD=/path/voxload bench/merge.sh   this binary, no build
#   SHARDS=16 SECONDS_LONG=600 bench/merge.sh
#
# The shards are made from one real run: 20 s at 20 req/s against the
# embedded mock. Its per-second windows (what grows with run length) are
# repeated over SECONDS_LONG seconds, and the result copied to SHARDS folders
# as shards 1..SHARDS: every shard then holds 3,600 seconds of windows with
# their histograms (about 20 samples each), as a real hour at 20 req/s per
# shard does. Its stage statistics stay the 20 s run's (HDR histograms do
# not grow with the number of samples).
# Traffic only to 127.0.0.1; the one load run is bounded (20 s).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/bench/out}/merge"
SHARDS="${SHARDS:-64}"
SECONDS_LONG="${SECONDS_LONG:-3600}"
say() { printf '[merge.sh] %s\n' "$*"; }

if [[ -z "${VOXLOAD:-}" ]]; then
  (cd "$ROOT" && cargo build --release --quiet)
  VOXLOAD="$ROOT/target/release/voxload"
fi
command -v /usr/bin/time >/dev/null || { say "ERROR: /usr/bin/time is required (apt-get install time)"; exit 2; }

rm -rf "$OUT" && mkdir -p "$OUT"
cd "$OUT"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VOXLOAD" mock --port "$port" >mock.log 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

say "one real run: 20 s at 20 req/s against the mock"
"$VOXLOAD" tts --url "http://127.0.0.1:$port/v1/audio/speech" --rate 20 --duration 20s \
  --name seed --out runs --quiet >seed.log 2>&1

say "making $SHARDS shards of $SECONDS_LONG s each"
python3 - "$SHARDS" "$SECONDS_LONG" <<'EOF'
import json, os, sys
shards, seconds = int(sys.argv[1]), int(sys.argv[2])
src = json.load(open("runs/seed/result.json"))
for w in src["windows"]:
    real = [s for s in w["seconds"] if s.get("hists")]
    w["seconds"] = [dict(real[i % len(real)], second=i) for i in range(seconds)]
rows = [r for r in src["timeline"] if r.get("completed")]
src["timeline"] = [dict(rows[i % len(rows)], second=i) for i in range(seconds)]
for i in range(1, shards + 1):
    src["shard"] = {"shard": f"{i}/{shards}", "run_seed": 1, "plan_digest": "bench"}
    d = f"hour/shard-{i}-of-{shards}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/result.json", "w") as f:
        json.dump(src, f)
EOF
du -sh hour | awk '{print "[merge.sh] shard folders: " $1 " on disk"}'

say "voxload merge hour --out merged"
/usr/bin/time -v "$VOXLOAD" merge hour --out merged >merge.log 2>time.log
wall=$(grep 'Elapsed (wall clock)' time.log | awk '{print $NF}')
rss=$(grep 'Maximum resident set size' time.log | awk '{print $NF}')
cpu=$(grep -E 'User time|System time' time.log | awk '{s+=$NF} END {printf "%.2f", s}')
python3 - "$SHARDS" "$SECONDS_LONG" <<'EOF'
import json, sys
m = json.load(open("merged/result.json"))
shards, seconds = int(sys.argv[1]), int(sys.argv[2])
got = m["stages"][0]["summary"]["requests"]
assert len(m["merged_from"]["shards"]) == shards, "every shard merged"
print(f"[merge.sh] merged: {got} requests from {shards} shards, {len(m['timeline'])} timeline rows")
EOF
say "wall $wall  cpu ${cpu}s  peak RSS $((rss / 1024)) MiB"
printf '{"shards": %s, "seconds": %s, "wall": "%s", "cpu_s": %s, "max_rss_kib": %s}\n' \
  "$SHARDS" "$SECONDS_LONG" "$wall" "$cpu" "$rss" > summary.json
