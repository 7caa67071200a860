#!/usr/bin/env bash
#SBATCH --job-name=voxload-merge
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
# The merge step of a sharded run: every OUT/NAME/shard-I-of-N folder into
# OUT/NAME/merged, exactly, with all reports regenerated. Submitted by
# submit.sh with --dependency=afterok on the array, so it runs once every
# shard has finished well.
#
#   sbatch --dependency=afterok:ARRAY_JOB_ID voxload-merge.sh NAME [--slo EXPR]...
#
# Exit 3 when an SLO fails on the merged run, 1 when shards are missing
# (merged anyway, marked partial). Same VOXLOAD_OUT and VOXLOAD_BIN as
# voxload-array.sh.
set -euo pipefail

if [ "$#" -lt 1 ]; then
  echo "usage: sbatch voxload-merge.sh NAME [--slo EXPR]..." >&2
  exit 1
fi
name=$1
shift
out=${VOXLOAD_OUT:-$PWD/results}
bin=${VOXLOAD_BIN:-voxload}

exec "$bin" merge "$out/$name" --out "$out/$name/merged" "$@"
