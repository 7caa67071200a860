#!/usr/bin/env bash
# Soak and dead-target runs (issue 12): voxload against `voxload mock` with
# faults, checking that every attempt is counted, that requests.jsonl holds
# exactly as many lines as the server(s) received requests, and that the
# generator's memory stays flat.
#
#   bench/soak.sh                 10 min at 50 req/s, 20 % mixed faults, then
#                                 a 60 s closed-loop run whose target dies at
#                                 20 s and comes back at 35 s
#   SOAK_S=60 bench/soak.sh       a shorter soak
#   VOXLOAD=/path/to/voxload      the binary (default: target/release/voxload)
#
# All traffic goes to 127.0.0.1; each run is bounded by its --duration.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VOXLOAD:-target/release/voxload}
SOAK_S=${SOAK_S:-600}
OUT=${OUT:-bench/out/soak}
rm -rf "$OUT" && mkdir -p "$OUT"
PORT=${PORT:-18400}
[ -x "$BIN" ] || { echo "no binary at $BIN (cargo build --release)" >&2; exit 1; }

mock() { # mock NAME [flags…]: start a mock on $PORT, truth written at exit
  local name=$1; shift
  "$BIN" mock --port "$PORT" --truth-out "$OUT/$name-truth.json" "$@" >"$OUT/$name.log" 2>&1 &
  echo $!
  for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sample_rss() { # sample_rss PID FILE: RSS every 10 s until PID exits
  while kill -0 "$1" 2>/dev/null; do
    echo "$(date +%s) $(rss_kib "$1")" >>"$2"
    sleep 10
  done
}
requests_in() { python3 -c 'import json,sys; print(sum(json.load(open(f))["requests"] for f in sys.argv[1:]))' "$@"; }

echo "== soak: ${SOAK_S} s at 50 req/s, 20 % faults (5 % each of 500, 429, reset, truncate)"
M=$(mock soak --error-5xx 0.05 --error-429 0.05 --reset 0.05 --truncate 0.05 --speed 20)
"$BIN" tts --url "http://127.0.0.1:$PORT" --rate 50 -d "${SOAK_S}s" --out "$OUT" --name soak -q \
  >"$OUT/soak-run.log" 2>&1 &
V=$!
sample_rss "$V" "$OUT/soak-rss.txt" &
wait "$V" || true
kill -TERM "$M"; wait "$M" 2>/dev/null || true
LINES=$(wc -l <"$OUT/soak/requests.jsonl")
SERVED=$(requests_in "$OUT/soak-truth.json")
python3 - "$OUT" "$LINES" "$SERVED" <<'PY'
import json, sys
out, lines, served = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rss = [int(l.split()[1]) for l in open(f"{out}/soak-rss.txt") if int(l.split()[1]) > 0]
stage = json.load(open(f"{out}/soak/result.json"))["stages"][0]
s = stage["summary"]
# After a minute of warm-up (allocator pools, histograms grown), RSS should not climb.
settled = rss[min(6, len(rss) - 1)]
print(f"requests.jsonl {lines} lines, server received {served}: {'EQUAL' if lines == served else 'DIFFERENT'}")
print(f"requests {s['requests']} ok {s['ok']} failed {s['failed']}; offered {stage.get('offered_rps', 0):.3f}/s")
print("errors: " + ", ".join(f"{e['label']} {e['count']}" for e in s["errors"]))
print(f"RSS KiB: first {rss[0]}, at 1 min {settled}, last {rss[-1]}, max {max(rss)}; "
      f"last vs 1 min {100 * (rss[-1] - settled) / settled:+.1f} %")
PY

echo "== dead target: closed loop, 4 users, 60 s; the target dies at 20 s and returns at 35 s"
M=$(mock first --speed 20)
"$BIN" tts --url "http://127.0.0.1:$PORT" --concurrency 4 -d 60s --out "$OUT" --name dies \
  >"$OUT/dies-run.log" 2>&1 &
V=$!
sleep 20; kill -TERM "$M"; wait "$M" 2>/dev/null || true
sleep 15; M=$(mock second --speed 20)
wait "$V" || true
kill -TERM "$M"; wait "$M" 2>/dev/null || true
LINES=$(wc -l <"$OUT/dies/requests.jsonl")
SERVED=$(requests_in "$OUT/first-truth.json" "$OUT/second-truth.json")
python3 - "$OUT" "$LINES" "$SERVED" <<'PY'
import json, sys
out, lines, served = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = json.load(open(f"{out}/dies/result.json"))["stages"][0]["summary"]
refused = sum(e["count"] for e in s["errors"] if e["label"] == "connect")
print(f"requests.jsonl {lines} lines = server received {served} + refused {refused}: "
      f"{'EQUAL' if lines == served + refused else 'DIFFERENT'}")
print("errors: " + ", ".join(f"{e['label']} {e['count']}" for e in s["errors"]))
for o in s.get("outages", []):
    print(f"outage {o['from_us']/1e6:.1f} s -> {o['to_us']/1e6:.1f} s, {o['failures']} failures")
PY
grep -h "target down" "$OUT/dies-run.log" || true
