#!/usr/bin/env bash
# A two-namespace network for the real-time benchmarks: the generator's
# namespace (vxl-gen, 10.203.0.1) and the server's (vxl-srv, 10.203.0.2),
# joined by a veth pair, with each side's receive processing steered (RPS)
# to that side's core: the generator's to core 0, the server's to core 1.
#
# Why: over loopback the kernel runs the *receiver's* TCP input on the
# sender's core, so a generator pinned to one core also pays for the
# server's network stack (about half the kernel time of a 20 ms audio
# frame). Between these namespaces each side pays for what it receives, as
# on a real network, and nothing leaves the machine.
#
#   bench/netns.sh up      create (needs root; fails if they exist)
#   bench/netns.sh down    remove (also removes the veth pair)
#   bench/netns.sh check   exit 0 if they exist
set -euo pipefail
GEN=vxl-gen
SRV=vxl-srv
case "${1:-}" in
up)
  ip netns add "$GEN"
  ip netns add "$SRV"
  ip link add vxl-g type veth peer name vxl-s
  ip link set vxl-g netns "$GEN"
  ip link set vxl-s netns "$SRV"
  ip -n "$GEN" addr add 10.203.0.1/30 dev vxl-g
  ip -n "$SRV" addr add 10.203.0.2/30 dev vxl-s
  for ns in "$GEN" "$SRV"; do ip -n "$ns" link set lo up; done
  ip -n "$GEN" link set vxl-g up
  ip -n "$SRV" link set vxl-s up
  # rps_cpus is a CPU bit mask: 1 = core 0, 2 = core 1.
  ip netns exec "$GEN" sh -c 'echo 1 >/sys/class/net/vxl-g/queues/rx-0/rps_cpus'
  ip netns exec "$SRV" sh -c 'echo 2 >/sys/class/net/vxl-s/queues/rx-0/rps_cpus'
  ;;
down)
  ip netns del "$GEN" 2>/dev/null || true
  ip netns del "$SRV" 2>/dev/null || true
  ;;
check)
  ip netns list | grep -qw "$GEN" && ip netns list | grep -qw "$SRV"
  ;;
*)
  echo "usage: bench/netns.sh up|down|check" >&2
  exit 2
  ;;
esac
