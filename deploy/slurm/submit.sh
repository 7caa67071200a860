#!/usr/bin/env bash
# Submit a sharded voxload run to Slurm: a job array of N shards
# (voxload-array.sh), then the merge (voxload-merge.sh) with
# --dependency=afterok on the whole array. Prints both job ids.
#
#   deploy/slurm/submit.sh [-n SHARDS] [-o OUT] [-b VOXLOAD] [-s SLO]... NAME -- VOXLOAD-ARGS...
#
#   deploy/slurm/submit.sh -n 8 -o /shared/voxload -s 'ttfa.p95<300ms' soak -- \
#       tts --url http://tts.internal:8000 --rate 400 --duration 10m
#
# -n  shards, one array task each [default: 4]
# -o  results root on storage every node sees [default: ./results]
# -b  the voxload binary on the nodes [default: voxload on PATH]
# -s  an SLO judged on the merged run (repeatable); exit 3 of the merge job
# Other sbatch settings come from sbatch's own variables, e.g.
# SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT.
# Results: OUT/NAME/shard-I-of-N/ per shard, OUT/NAME/merged/ merged,
# OUT/NAME/slurm-*.out the jobs' output.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  echo "usage: $(sed -n 's/^#   //p' "$0" | head -n1)" >&2
  exit 1
}

shards=4
out=$PWD/results
bin=${VOXLOAD_BIN:-voxload}
merge_args=()
while getopts "n:o:b:s:h" opt; do
  case "$opt" in
  n) shards=$OPTARG ;;
  o) out=$OPTARG ;;
  b) bin=$OPTARG ;;
  s) merge_args+=(--slo "$OPTARG") ;;
  *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ "$#" -ge 1 ] || usage
name=$1
shift
[ "${1:-}" = "--" ] && shift
[ "$#" -ge 1 ] || usage
case "$shards" in
'' | *[!0-9]* | 0) echo "error: -n must be a whole number of shards, at least 1 (got '$shards')" >&2; exit 1 ;;
esac
case "$name" in
'' | */* | .*) echo "error: NAME '$name' must be a plain folder name" >&2; exit 1 ;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -e "$out/$name" ] || [ -e "$out/$name.start" ]; then
  echo "error: $out/$name or $out/$name.start exists (an earlier run): give this run its own NAME" >&2
  exit 1
fi
mkdir -p "$out/$name"

export VOXLOAD_OUT=$out VOXLOAD_BIN=$bin
array=$(sbatch --parsable --array=0-$((shards - 1)) --job-name="voxload-$name" \
  --chdir="$out" --output="$out/$name/slurm-%A_%a.out" \
  "$here/voxload-array.sh" "$name" "$@")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --job-name="voxload-$name-merge" --chdir="$out" --output="$out/$name/slurm-merge-%j.out" \
  "$here/voxload-merge.sh" "$name" "${merge_args[@]}")
merge=${merge%%;*}
echo "array $array"
echo "merge $merge"
