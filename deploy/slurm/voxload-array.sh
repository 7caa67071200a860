#!/usr/bin/env bash
#SBATCH --job-name=voxload
#SBATCH --array=0-3
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
# One shard of a voxload run per array task: voxload reads which shard it
# is from SLURM_ARRAY_TASK_ID (relative to SLURM_ARRAY_TASK_MIN) and how
# many from SLURM_ARRAY_TASK_COUNT, takes its share of every rate and user
# count, and starts when the others do (the first task to arrive writes the
# start file on shared storage). Shard I of N writes OUT/NAME/shard-I-of-N/.
#
#   sbatch --array=0-7 voxload-array.sh NAME tts --url http://tts:8000 --rate 400 --duration 10m
#
# NAME names the run (one results folder per run: use a new name each
# time). Everything after it is voxload's own command line, less --name,
# --out and --start-file, which this script sets. Give the array as one
# contiguous range (0-7, 1-8, or 0-7%4 to cap how many run at once).
# Environment (sbatch passes the submitter's on):
#   VOXLOAD_OUT  results root on storage every node sees [default: ./results]
#   VOXLOAD_BIN  the voxload binary [default: voxload on PATH]
# Secrets: export the API key and pass --api-key-env VAR, never the key itself.
# submit.sh submits this array and the merge after it in one go.
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: sbatch --array=0-N voxload-array.sh NAME (tts|asr|agent|run FILE) [voxload options]" >&2
  exit 1
fi
name=$1
shift
out=${VOXLOAD_OUT:-$PWD/results}
bin=${VOXLOAD_BIN:-voxload}

exec "$bin" "$@" --quiet --name "$name" --out "$out" --start-file "$out/$name.start"
