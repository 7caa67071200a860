#!/usr/bin/env bash
# voxload performance benchmarks: installs/checks tools, builds voxload, runs
# bench/bench.py (all five benchmarks, see BENCHMARKS.md) and prints a summary.
#
#   bench/run.sh                 full run (~10 min on 2 cores)
#   QUICK=1 bench/run.sh         short durations (~3 min)
#   bench/run.sh --only 1,5      a subset
#   NO_INSTALL=1 bench/run.sh    never install anything; missing tools are skipped
#
# All traffic goes to 127.0.0.1; every load run is bounded in count and time.
# Generator pinned to core GEN_CPU (0), mock server to SRV_CPU (1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export BENCH_OUT="${BENCH_OUT:-$ROOT/bench/out}"
mkdir -p "$BENCH_OUT/bin"

say() { printf '[run.sh] %s\n' "$*"; }

# --- tools ------------------------------------------------------------------
for t in taskset python3 cargo; do
  command -v "$t" >/dev/null || { say "ERROR: $t is required"; exit 2; }
done

if ! command -v wrk >/dev/null; then
  if [[ -z "${NO_INSTALL:-}" ]] && command -v apt-get >/dev/null; then
    say "installing wrk (apt-get)"
    (apt-get update -qq && apt-get install -y -qq wrk) >"$BENCH_OUT/apt.log" 2>&1 \
      || say "SKIP wrk: apt-get install failed (see $BENCH_OUT/apt.log)"
  fi
  command -v wrk >/dev/null || say "SKIP wrk: not installed; the wrk column of benchmark 1 will be missing"
fi

OHA="${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
if [[ ! -x "$OHA" ]]; then
  if [[ -z "${NO_INSTALL:-}" ]]; then
    say "installing oha with cargo (several minutes on 2 cores)"
    cargo install oha --locked >"$BENCH_OUT/oha-install.log" 2>&1 \
      || cargo install oha >>"$BENCH_OUT/oha-install.log" 2>&1 \
      || say "SKIP oha: cargo install failed (see $BENCH_OUT/oha-install.log)"
  fi
  [[ -x "$OHA" ]] || say "SKIP oha: not installed; the oha column of benchmark 1 will be missing"
fi
export OHA

# --- voxload ----------------------------------------------------------------
# Others may rebuild target/ while we run: benchmark a private copy.
say "building voxload (cargo build --release; waits on the target/ lock)"
cargo build --release 2>&1 | tail -n 2
cp target/release/voxload "$BENCH_OUT/bin/voxload"
export VOXLOAD="$BENCH_OUT/bin/voxload"
say "voxload $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (+ uncommitted changes in src/)')"

# --- run --------------------------------------------------------------------
exec python3 "$ROOT/bench/bench.py" "$@"
