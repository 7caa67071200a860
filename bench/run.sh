#!/usr/bin/env bash
# voxload performance benchmarks: installs/checks tools, builds voxload, runs
# bench/bench.py (all five benchmarks, see BENCHMARKS.md) and prints a summary.
#
#   bench/run.sh                      full run (~8 min on 2 cores)
#   QUICK=1 bench/run.sh              short durations (~3 min)
#   ROUNDS=7 bench/run.sh --only 1    more rounds per tool for benchmark 1 (median of them)
#   bench/run.sh --only 1,5           a subset
#   BENCH_REV=9c2e14e bench/run.sh    benchmark a commit: `git archive` export built
#                                     in bench/out/build (no git writes, target/ untouched)
#   VOXLOAD=/path/voxload bench/run.sh   benchmark this binary, no build
#   NO_INSTALL=1 bench/run.sh         never install tools; missing ones are skipped
#
# By default the working tree is built with `cargo build --release` (shared
# target/, waits on its lock) and a private copy of the binary is benchmarked.
# All traffic goes to 127.0.0.1; every load run is bounded in count and time.
# Generator pinned to core GEN_CPU (0), mock server to SRV_CPU (1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export BENCH_OUT="${BENCH_OUT:-$ROOT/bench/out}"
mkdir -p "$BENCH_OUT/bin"

say() { printf '[run.sh] %s\n' "$*"; }

# --- tools ------------------------------------------------------------------
for t in taskset python3 cargo git; do
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
    say "installing oha with cargo (5-12 minutes on 2 cores)"
    cargo install oha --locked >"$BENCH_OUT/oha-install.log" 2>&1 \
      || cargo install oha >>"$BENCH_OUT/oha-install.log" 2>&1 \
      || say "SKIP oha: cargo install failed (see $BENCH_OUT/oha-install.log)"
  fi
  [[ -x "$OHA" ]] || say "SKIP oha: not installed; the oha columns of benchmark 1 will be missing"
fi
export OHA

# --- voxload ----------------------------------------------------------------
if [[ -n "${VOXLOAD:-}" ]]; then
  [[ -x "$VOXLOAD" ]] || { say "ERROR: VOXLOAD=$VOXLOAD is not an executable"; exit 2; }
  export VOXLOAD_DESC="${VOXLOAD_DESC:-binary $VOXLOAD}"
elif [[ -n "${BENCH_REV:-}" ]]; then
  rev="$(git rev-parse --short "$BENCH_REV")"
  src="$BENCH_OUT/build/src-$rev"
  tgt="$BENCH_OUT/build/target"
  say "building voxload $rev from a git archive export in $src"
  rm -rf "$src" && mkdir -p "$src"
  git archive "$rev" | tar -x -C "$src"
  # Seed the private target dir with the shared one's dependencies (saves a full build).
  if [[ ! -d "$tgt/release" && -d target/release ]]; then mkdir -p "$tgt" && cp -a target/release "$tgt/"; fi
  (cd "$src" && CARGO_TARGET_DIR="$tgt" cargo build --release 2>&1 | tail -n 2)
  cp "$tgt/release/voxload" "$BENCH_OUT/bin/voxload"
  export VOXLOAD="$BENCH_OUT/bin/voxload" VOXLOAD_DESC="commit $rev (git archive export)"
else
  say "building voxload (cargo build --release; waits on the target/ lock)"
  if ! cargo build --release 2>&1 | tail -n 3; then :; fi
  if ! cargo build --release >/dev/null 2>&1; then
    say "ERROR: the working tree does not build (others may be mid-edit)."
    say "       Rerun with BENCH_REV=<a commit that builds> or VOXLOAD=<binary>."
    exit 2
  fi
  cp target/release/voxload "$BENCH_OUT/bin/voxload"
  export VOXLOAD="$BENCH_OUT/bin/voxload"
  dirty=""
  git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || dirty=" + uncommitted changes"
  export VOXLOAD_DESC="working tree at $(git rev-parse --short HEAD)$dirty"
fi
say "benchmarking voxload: $VOXLOAD_DESC"

# --- run --------------------------------------------------------------------
exec python3 "$ROOT/bench/bench.py" "$@"
