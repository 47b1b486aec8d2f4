#!/usr/bin/env bash
# The apply benchmarks of BENCHMARKS.md (`task bench`). Writes each benchmark's
# output under $BENCH_OUT (default bin/bench) and prints it.
#
#   internal/tools/bench/run.sh            the 500-clone apply, its session-per-clone
#                                          baseline, the CPU per clone and the plan of
#                                          10,000 clones (a few minutes)
#   internal/tools/bench/run.sh all        also the >100 s serial baseline and the
#                                          10,000-clone runs (half an hour or more)
#   COUNT=5 internal/tools/bench/run.sh    five runs of each (ranges on a busy machine)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${BENCH_OUT:-bin/bench}
count=${COUNT:-3}
mkdir -p "$out"
{ date -u; uname -srm; nproc; grep -m1 'model name' /proc/cpuinfo || true; uptime; go version; git rev-parse HEAD; } > "$out/machine.txt"
cat "$out/machine.txt"

run() { # name, then go test arguments
  local name=$1; shift
  echo "== $name"
  go test ./cmd/iclone-plan -run '^$' "$@" 2>&1 | tee "$out/$name.txt"
}

# A simulator in another process, so only the client is measured; it prints
# GOVC_URL first and serves until killed.
sim_pid=
external() { # plan, then sim flags
  local plan=$1; shift
  go build -o bin/iclone-plan-bench ./cmd/iclone-plan
  bin/iclone-plan-bench sim --seed "$plan" --listen 127.0.0.1:0 "$@" > "$out/sim.url" &
  sim_pid=$!
  for _ in $(seq 100); do grep -q GOVC_URL "$out/sim.url" 2>/dev/null && break; sleep 0.2; done
  export GOVC_URL GOVC_INSECURE=1
  GOVC_URL=$(sed -n "s/^export GOVC_URL='\\(.*\\)'\$/\\1/p" "$out/sim.url")
}
stop_external() {
  kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true
  unset GOVC_URL GOVC_INSECURE
}
trap 'stop_external' EXIT

run apply500 -bench 'Apply500$' -benchtime "${count}x" -count 1
run session-per-clone -bench 'Apply500SessionPerClone' -benchtime 1x -count "$count"

external cmd/iclone-plan/testdata/bench/applycpu.yaml --hosts 4 --host-limit 8
run cpu-external -bench 'ApplyCPU' -benchmem -benchtime "${count}x" -count 1
stop_external

# The plan of 10,000 clones against 10,000 VMs (issue 4): empty and warm
# inventory cache, and the naive one-read-per-VM comparison.
external cmd/iclone-plan/testdata/bench/plan10k.yaml --vms 10000 --hosts 4
run plan10k-external -bench 'Plan10k$' -benchmem -benchtime "${count}x" -count 1
run plan10k-naive-external -bench 'Plan10kNaive' -benchmem -benchtime 1x -count 1
stop_external

[ "${1:-}" = all ] || exit 0

# The long ones: about two minutes, then about twenty (a loaded simulator
# with 10,000 VMs makes a handful of clones a second).
run serial -bench 'Apply500Serial' -benchtime 1x -count 1 -timeout 30m
run cpu-in-process -bench 'ApplyCPU' -benchmem -benchtime 3x -count 1 -timeout 30m
external cmd/iclone-plan/testdata/bench/apply10k.yaml --hosts 4 --host-limit 8
run apply10k-external -bench 'Apply10k' -benchmem -benchtime 1x -count 1 -timeout 60m
stop_external
run plan10k-in-process -bench 'Plan10k$' -benchmem -benchtime 5x -count 1
