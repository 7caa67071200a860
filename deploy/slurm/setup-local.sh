#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying the job array in
# deploy/slurm/ and for tests/deploy.rs: Debian's slurm-wlm and munge, a
# slurm.conf for this host (2 CPUs, no cgroups), the three daemons started
# in the background (no systemd needed), then a wait until `sinfo` shows
# the node idle. Idempotent and non-interactive; run as root.
#
#   bash deploy/slurm/setup-local.sh        # then: sinfo; sbatch ...
#
# Environment: SLURM_LOCAL_CPUS (default 2), SLURM_LOCAL_WAIT (seconds to
# wait for the node, default 60).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "error: setup-local.sh installs packages and starts daemons: run it as root" >&2
  exit 1
fi

node=$(hostname -s)
cpus=${SLURM_LOCAL_CPUS:-2}
wait_s=${SLURM_LOCAL_WAIT:-60}
conf=/etc/slurm/slurm.conf
t0=$(date +%s)

say() { echo "setup-local: $*"; }

# 1. Packages. No init system runs here: policy-rc.d keeps the packages'
# scripts from starting daemons before the configuration exists (removed
# again after, unless it was there before).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
  ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge </dev/null >/dev/null
  [ -n "$own_policy" ] && rm -f "$policy"
fi

# 2. munge: a key, its folders, the daemon (as the munge user, like Debian's unit).
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  say "creating the munge key"
  if command -v mungekey >/dev/null; then
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  # A socket or pid file left by a daemon that no longer runs would stop it.
  rm -f /run/munge/munge.socket.2 /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n </dev/null | unmunge >/dev/null
fi

# 3. slurm.conf for this host. Jobs run as their submitter (root here);
# the daemons run as root too, so the state folders need no other owner.
install -d -m 0755 /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/slurm
new=$(mktemp)
cat >"$new" <<EOF
# Written by voxload's deploy/slurm/setup-local.sh: a one-node cluster on $node.
ClusterName=voxload-local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
# No cgroups in this container: track processes by parent id, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
# Load generators wait on the network, not the CPU: up to 4 jobs share
# each core, so every task of a small array runs at once on this node.
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
changed=
if ! cmp -s "$new" "$conf"; then
  say "writing $conf"
  install -m 0644 "$new" "$conf"
  changed=1
fi
rm -f "$new"

# 4. The daemons: started when they do not answer, told to re-read a
# changed configuration when they do.
if scontrol ping 2>/dev/null | grep -q UP; then
  if [ -n "$changed" ]; then
    say "slurmctld runs: reconfiguring"
    scontrol reconfigure
  fi
else
  say "starting slurmctld"
  rm -f /run/slurm/slurmctld.pid
  slurmctld
fi
slurmd_pid=$(cat /run/slurm/slurmd.pid 2>/dev/null || true)
if [ -z "$slurmd_pid" ] || ! kill -0 "$slurmd_pid" 2>/dev/null ||
  [ "$(cat /proc/"$slurmd_pid"/comm 2>/dev/null)" != slurmd ]; then
  say "starting slurmd"
  rm -f /run/slurm/slurmd.pid
  slurmd
fi

# 5. Wait until the node takes jobs. A node left down or drained by an
# earlier run (the daemons ended with the session) is resumed.
state=
for _ in $(seq "$((wait_s * 2))"); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null | head -n1 || true)
  case "$state" in
  idle | mixed | allocated) break ;;
  down* | drain* | drained* | fail*)
    scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.5
done
case "$state" in
idle | mixed | allocated)
  say "node $node is $state, ready in $(($(date +%s) - t0)) s" ;;
*)
  echo "error: node $node is '${state:-unknown}' after ${wait_s} s; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
  sinfo -N -l >&2 || true
  exit 1 ;;
esac
