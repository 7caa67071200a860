#!/usr/bin/env bash
# Issue 17 benchmark: how many real-time WebRTC voice-agent calls one
# generator core carries with caller packets sent on time (per-turn send
# lateness p99 ≤ 2 ms at the p99 of turns), against the mock's WebRTC
# agent. Generator pinned to core 0, mock to core 1, loopback only.
#
# Each level runs CALLS calls at once, each TURNS turns of about SPEECH_S s
# of caller speech (20 ms Opus packets on absolute deadlines, noise packets
# between turns: 50 packets/s each way for the whole call) and a 1 s answer
# 300 ms after the mock's end of speech. Bounded: every call has a fixed
# script, the mock's session limit caps it, and each level has a timeout.
#
#   bench/agent_webrtc.sh                   LEVELS="20 50 100 150" TURNS=2 SPEECH_S=2
#   LEVELS="50 100" bench/agent_webrtc.sh
#   VOXLOAD=/path/voxload bench/agent_webrtc.sh
#   BENCH_RT=1 bench/agent_webrtc.sh        generator and mock at real-time
#                                           priority (a shared machine's other
#                                           processes otherwise take the cores)
#
# Reports per level: turns ok/failed, send lateness (per-turn p99, at the
# p50/p99 of turns), connect p99, the worst rtc_loss, generator CPU per call
# (user+sys ÷ calls) and RSS per call (the peak's growth between the first
# level and each other one).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${VOXLOAD:-$ROOT/target/release/voxload}"
LEVELS="${LEVELS:-20 50 100 150}"
TURNS="${TURNS:-2}"
SPEECH_S="${SPEECH_S:-2}"
OUT="$ROOT/bench/out/agent_webrtc"
PORT="${PORT:-18870}"
rm -rf "$OUT" && mkdir -p "$OUT"
[[ -x "$BIN" ]] || (cd "$ROOT" && cargo build --release)
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
RT=()
if [[ -n "${BENCH_RT:-}" ]] && chrt -f 1 true 2>/dev/null; then RT=(chrt -f 1); fi

"${RT[@]}" taskset -c 1 "$BIN" mock --port "$PORT" --agent-max-sessions 2000 \
  --agent-response-delay 300ms --agent-response-audio 1s >"$OUT/mock.log" 2>&1 &
MOCK=$!
trap 'kill "$MOCK" 2>/dev/null || true; wait "$MOCK" 2>/dev/null || true' EXIT
sleep 1

python3 - "$OUT/calls.toml" "$TURNS" "$SPEECH_S" <<'PY'
import sys
path, turns, speech = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
text = ("please read me my account balance " * 20)[: int(speech * 15)]
with open(path, "w") as f:
    f.write('[[script]]\nname = "bench"\ntexts = [\n')
    f.write("".join(f'  "{text}",\n' for _ in range(turns)))
    f.write("]\n")
PY

# run N: N calls at once; peak RSS (KiB) to $OUT/cN.rss, CPU s to $OUT/cN.cpu.
run() {
  local n=$1 peak=0
  timeout 600 "${RT[@]}" taskset -c 0 "$BIN" agent --transport webrtc --url "http://127.0.0.1:$PORT/api/offer" \
    --config "$OUT/calls.toml" --concurrency "$n" --requests "$n" --spawn-rate 200 --pause 200ms \
    -q --out "$OUT/results" --name "c$n" >"$OUT/c$n.log" 2>&1 &
  local gen=$!
  sleep 0.2
  local pid
  pid=$(pgrep -P "$gen" | head -1 || true)
  pid=${pid:-$gen}
  while kill -0 "$gen" 2>/dev/null; do
    local rss
    rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [[ "$rss" -gt "$peak" ]] && peak=$rss
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$pid/stat" \
      >"$OUT/cpu.tmp" 2>/dev/null && mv "$OUT/cpu.tmp" "$OUT/c$n.cpu" || true
    sleep 0.25
  done
  wait "$gen" || true
  echo "$peak" >"$OUT/c$n.rss"
}

for n in $LEVELS; do run "$n"; done
python3 - "$OUT" $LEVELS <<'PY'
import json, sys
out, levels = sys.argv[1], [int(x) for x in sys.argv[2:]]
base = levels[0]
base_rss = int(open(f"{out}/c{base}.rss").read())
print("calls  ok/failed  lag p99 (p50/p99 of turns)  connect p99  worst loss  CPU/call  RSS/call")
carried = None
for n in levels:
    r = json.load(open(f"{out}/results/c{n}/result.json"))
    s = r["stages"][0]["summary"]
    m = s["metrics"]
    lag, conn, loss = m.get("frame_lag_p99", {}), m.get("connect", {}), m.get("rtc_loss", {})
    cpu = float(open(f"{out}/c{n}.cpu").read())
    rss = int(open(f"{out}/c{n}.rss").read())
    per = f"{(rss - base_rss) / (n - base):.0f} KiB" if n != base else "-"
    print(f"{n:5}  {s['ok']:4}/{s['failed']:<4}  {lag.get('p50')} / {lag.get('p99')} ms"
          f"{'':10}{conn.get('p99')} ms  {loss.get('max')}  {cpu / n * 1e3:.0f} ms  {per}")
    if s["failed"] == 0 and (lag.get("p99") or 1e9) <= 2.0:
        carried = n
print(f"carried on one generator core with send lateness p99 <= 2 ms: {carried} calls")
PY
