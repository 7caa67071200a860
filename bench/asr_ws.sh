#!/usr/bin/env bash
# Issue 3 benchmark: SESSIONS concurrent streaming-ASR sessions (default 1000)
# of AUDIO_S seconds each (default 20) against the mock in sink mode
# (frames counted, not decoded). Generator pinned to core 0, mock to core 1.
# Reports frame send lateness (jitter) and RSS per session. Loopback only;
# bounded: each session ends with its audio, and --timeout caps it.
#
#   bench/asr_ws.sh                 SESSIONS=1000 AUDIO_S=20
#   SESSIONS=200 bench/asr_ws.sh    smaller
#   VOXLOAD=/path/voxload bench/asr_ws.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${VOXLOAD:-$ROOT/target/release/voxload}"
N="${SESSIONS:-1000}"
AUDIO_S="${AUDIO_S:-20}"
OUT="$ROOT/bench/out/asr_ws"
PORT="${PORT:-18850}"
rm -rf "$OUT" && mkdir -p "$OUT"
[[ -x "$BIN" ]] || (cd "$ROOT" && cargo build --release)
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

taskset -c 1 "$BIN" mock --port "$PORT" --asr-slots $((N + 100)) --asr-queue 0 --ws-sink >"$OUT/mock.log" 2>&1 &
MOCK=$!
trap 'kill $MOCK 2>/dev/null || true' EXIT
sleep 1

# One text of AUDIO_S seconds (the mock speaks 15 characters per second).
python3 -c "print(' '.join(['word'] * int($AUDIO_S * 3)))" >"$OUT/text.txt"
"$BIN" corpus --url "http://127.0.0.1:$PORT" --format wav --sample-rate 16000 \
  --texts "$OUT/text.txt" --out "$OUT/corpus" >"$OUT/corpus.log" 2>&1

in_flight() {
  python3 - "$PORT" <<'PY'
import json, sys, urllib.request
t = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/mock/truth"))
print(t["asr"]["in_flight_now"])
PY
}

# run SESSIONS: prints "peak_rss_kib_with_all_open"
run() {
  local n=$1
  taskset -c 0 "$BIN" asr --url "ws://127.0.0.1:$PORT/v1/realtime/transcribe" \
    --audio "$OUT/corpus/manifest.jsonl" --concurrency "$n" --requests "$n" \
    --spawn-rate 500 --timeout 5m -q --out "$OUT/results" --name "c$n" >"$OUT/c$n.log" 2>&1 &
  local gen=$! peak=0
  while kill -0 "$gen" 2>/dev/null; do
    local open rss
    open=$(in_flight 2>/dev/null || echo 0)
    rss=$(awk '/VmRSS/{print $2}' "/proc/$gen/status" 2>/dev/null || echo 0)
    if [[ "$open" -ge "$n" && "$rss" -gt "$peak" ]]; then peak=$rss; fi
    sleep 0.5
  done
  wait "$gen" || true
  echo "$peak"
}

small=$(run 10)
big=$(run "$N")
python3 - "$OUT" "$N" "$small" "$big" <<'PY'
import json, sys
out, n, small, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(f"{out}/results/c{n}/result.json"))
s = r["stages"][0]["summary"]
m = s["metrics"]
lag99, lagmax = m.get("frame_lag_p99", {}), m.get("frame_lag_max", {})
print(f"sessions: {n} ok {s['ok']} failed {s['failed']} errors {[(e['label'], e['count']) for e in s['errors']]}")
print(f"frame lag, per-session p99: p50 {lag99.get('p50')} ms, p99 {lag99.get('p99')} ms, max {lag99.get('max')} ms")
print(f"frame lag, per-session max: p50 {lagmax.get('p50')} ms, p99 {lagmax.get('p99')} ms, max {lagmax.get('max')} ms")
if big and small:
    print(f"RSS: {small} KiB with 10 open, {big} KiB with {n} open -> {(big - small) / (n - 10):.1f} KiB per session")
else:
    print(f"RSS: not sampled (10 open: {small}, {n} open: {big})")
PY
