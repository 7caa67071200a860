#!/usr/bin/env bash
# Issue 4 benchmark: SESSIONS concurrent voice-agent calls (default 2000)
# against the mock agent (explicit end of speech: it only counts frames and
# computes one RMS per frame), generator pinned to core 0, mock to core 1.
# Each call: TURNS turns of about SPEECH_S seconds of caller speech, a 1 s
# answer 300 ms after each end of speech; noise frames stream between
# utterances, so every caller sends 50 frames/s for the whole call.
# Reports frame send lateness (jitter), first-audio latency, and RSS per
# session. Loopback (or namespaces this machine creates) only; bounded: every call has a fixed script and the
# agent's session limit caps it.
#
#   bench/agent_ws.sh                       SESSIONS=2000 TURNS=4 SPEECH_S=3
#   SESSIONS=300 bench/agent_ws.sh          smaller
#   VOXLOAD=/path/voxload bench/agent_ws.sh
#   BENCH_RT=1 bench/agent_ws.sh            generator and mock at real-time
#                                           priority (see bench/asr_ws.sh: other
#                                           processes on a shared machine otherwise
#                                           take the generator's core)
#   BENCH_RPS=1 bench/agent_ws.sh           loopback's receive processing on
#                                           the mock's core (RPS, needs root;
#                                           restored on exit): see below
#   BENCH_NETNS=1 bench/agent_ws.sh         generator and mock in two network
#                                           namespaces over a veth pair, each
#                                           side's receive work on its own core
#                                           (bench/netns.sh; needs root)
#
# Why BENCH_RPS and BENCH_NETNS: on loopback the kernel runs the *receiver's* TCP input in
# the sender's softirq, on the sender's core, so every caller frame costs
# the generator's core the mock's network stack as well (~half the kernel
# time per frame). On a real network that work happens on the server's
# machine. Receive Packet Steering on `lo` moves it to the server's core, so
# the generator's core does what the generator would do facing a real
# network (its own sends, and waking for what it receives). RPS on `lo`
# also moves the generator's own receive work (the agent's audio, ACKs) to
# the mock's core; BENCH_NETNS keeps that on the generator's core, exactly
# as a real network would.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${VOXLOAD:-$ROOT/target/release/voxload}"
N="${SESSIONS:-2000}"
TURNS="${TURNS:-4}"
SPEECH_S="${SPEECH_S:-3}"
OUT="$ROOT/bench/out/agent_ws"
PORT="${PORT:-18860}"
rm -rf "$OUT" && mkdir -p "$OUT"
[[ -x "$BIN" ]] || (cd "$ROOT" && cargo build --release)
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
RT=()
HOST=127.0.0.1
GEN_NS=()
SRV_NS=()
MADE_NETNS=""
if [[ -n "${BENCH_NETNS:-}" ]]; then
  if ! "$ROOT/bench/netns.sh" check; then
    "$ROOT/bench/netns.sh" up
    MADE_NETNS=1
  fi
  HOST=10.203.0.2
  GEN_NS=(ip netns exec vxl-gen)
  SRV_NS=(ip netns exec vxl-srv)
fi
RPS_FILE=/sys/class/net/lo/queues/rx-0/rps_cpus
RPS_OLD=""
if [[ -n "${BENCH_RPS:-}" ]]; then
  RPS_OLD=$(cat "$RPS_FILE")
  echo 2 >"$RPS_FILE" || { echo "BENCH_RPS needs write access to $RPS_FILE" >&2; exit 2; }
fi
if [[ -n "${BENCH_RT:-}" ]] && chrt -f 1 true 2>/dev/null; then RT=(chrt -f 1); fi

"${RT[@]}" taskset -c 1 "${SRV_NS[@]}" "$BIN" mock --host "$HOST" --port "$PORT" --agent-max-sessions $((N + 100)) \
  --agent-response-delay 300ms --agent-response-audio 1s --agent-chunk 100ms \
  >"$OUT/mock.log" 2>&1 &
MOCK=$!
cleanup() {
  kill "$MOCK" 2>/dev/null || true
  wait "$MOCK" 2>/dev/null || true
  [[ -z "$RPS_OLD" ]] || echo "$RPS_OLD" >"$RPS_FILE"
  [[ -z "$MADE_NETNS" ]] || "$ROOT/bench/netns.sh" down
}
trap cleanup EXIT
sleep 1

# One script: TURNS utterances of SPEECH_S seconds in the test voice (15 characters per second).
python3 - "$OUT/calls.toml" "$TURNS" "$SPEECH_S" <<'PY'
import sys
path, turns, speech = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
text = ("please read me my account balance " * 20)[: int(speech * 15)]
with open(path, "w") as f:
    f.write('[[script]]\nname = "bench"\ntexts = [\n')
    for _ in range(turns):
        f.write(f'  "{text}",\n')
    f.write("]\n")
PY

active() {
  "${SRV_NS[@]}" python3 - "$HOST" "$PORT" <<'PY'
import json, sys, urllib.request
t = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/mock/truth"))
print(t["agent"]["active_now"])
PY
}

# run SESSIONS: prints the peak RSS (KiB) with all calls open; the
# generator's CPU seconds (user sys) go to $OUT/cN.cpu.
run() {
  local n=$1
  "${RT[@]}" taskset -c 0 "${GEN_NS[@]}" "$BIN" agent --url "ws://$HOST:$PORT/v1/agent" --config "$OUT/calls.toml" \
    --end-of-speech-message '{"type":"end_of_speech"}' \
    --concurrency "$n" --requests "$n" --spawn-rate 500 --pause 200ms \
    -q --out "$OUT/results" --name "c$n" >"$OUT/c$n.log" 2>&1 &
  local gen=$! peak=0
  while kill -0 "$gen" 2>/dev/null; do
    local open rss
    open=$(active 2>/dev/null || echo 0)
    rss=$(awk '/VmRSS/{print $2}' "/proc/$gen/status" 2>/dev/null || echo 0)
    if [[ "$open" -ge "$n" && "$rss" -gt "$peak" ]]; then peak=$rss; fi
    # utime and stime (fields 14, 15) in clock ticks; the last sample wins.
    awk -v hz="$(getconf CLK_TCK)" '{print $14 / hz, $15 / hz}' "/proc/$gen/stat" \
      >"$OUT/cpu.tmp" 2>/dev/null && mv "$OUT/cpu.tmp" "$OUT/c$n.cpu" || true
    sleep 0.5
  done
  wait "$gen" || true
  echo "$peak"
}

small=$(run 10)
big=$(run "$N")
NET="loopback, receive on the sender's core"
[[ -z "${BENCH_RPS:-}" ]] || NET="loopback, receive on the mock's core (RPS)"
[[ -z "${BENCH_NETNS:-}" ]] || NET="veth between namespaces, each side's receive on its own core"
python3 - "$OUT" "$N" "$small" "$big" "$NET" <<'PY'
import json, sys
out, n, small, big, net = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
r = json.load(open(f"{out}/results/c{n}/result.json"))
s = r["stages"][0]["summary"]
m = s["metrics"]
get = lambda k: m.get(k, {})
lag99, lagmax, fa = get("frame_lag_p99"), get("frame_lag_max"), get("agent_first_audio")
print(f"calls: {n}  turns ok {s['ok']} failed {s['failed']}  errors {[(e['label'], e['count']) for e in s['errors']]}")
print(f"frame lag, per-turn p99: p50 {lag99.get('p50')} ms, p99 {lag99.get('p99')} ms, max {lag99.get('max')} ms")
print(f"frame lag, per-turn max: p50 {lagmax.get('p50')} ms, p99 {lagmax.get('p99')} ms, max {lagmax.get('max')} ms")
print(f"agent first audio (model 300 ms + delivery): p50 {fa.get('p50')} ms, p99 {fa.get('p99')} ms")
try:
    user, sys_ = (float(x) for x in open(f"{out}/c{n}.cpu").read().split())
    print(f"generator CPU: user {user:.1f} s, sys {sys_:.1f} s; network: {net}")
except (OSError, ValueError):
    print("generator CPU: not sampled")
if big and small:
    print(f"RSS: {small} KiB with 10 open, {big} KiB with {n} open -> {(big - small) / (n - 10):.1f} KiB per session")
else:
    print(f"RSS: not sampled (10 open: {small}, {n} open: {big})")
PY
