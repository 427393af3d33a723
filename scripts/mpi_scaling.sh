#!/bin/bash
# mpi_scaling.sh - members per minute of `mpirun -np P cgdml ensemble` (make MPI=1) on
# 1 and 2 ranks of one thread each, and of one process with 2 threads, on the
# shipped data (README, "Beyond one machine").  Each run is the whole command
# (loading, strata, prior, K members, a 100-frame layer 2), timed by the wall
# clock and by the CPU time of all its processes: on a machine shared with other
# jobs the wall clock says what the run got, CPU seconds per member what a member
# costs, and CPU over wall how many cores the run actually had.  The load average
# before each run is printed beside it.  The ranks' model
# must be the one rank's byte for byte (forces on 200 frames); the 2-thread
# process differs in rounding only (threaded BLAS sums in another order), and its
# largest relative force difference is printed.
#
#   scripts/mpi_scaling.sh [K members (8)] [M frames (1000)]
set -euo pipefail
K=${1:-8}
M=${2:-1000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=$SRC/build-mpi/cgdml
[ -x "$BIN" ] || { echo "build it first: make MPI=1" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OPTS="--data $SRC/datasets/ala2_cg6.h5 --members $K --n-train $M --sigma1 0.25 --lambda 0.2667
      --sigma2 same --mean-set 100"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # label, threads per process, command...
    local label=$1 threads=$2
    shift 2
    local load times TIMEFORMAT='%R %U %S'
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    times=$( { time OMP_NUM_THREADS=$threads "$@" $OPTS -o "$tmp/$label.h5" \
        > "$tmp/$label.log" 2>&1; } 2>&1) || { cat "$tmp/$label.log" >&2; exit 1; }
    "$BIN" predict --model "$tmp/$label.h5" --data "$SRC/datasets/ala2_cg6.h5" --n-train 200 \
        -o "$tmp/$label.npy" > /dev/null 2>&1
    echo "$times" | awk -v l="$label" -v k="$K" -v load="$load" '{
        wall = $1; cpu = $2 + $3
        printf "  %-24s %6.1f s wall %6.2f members/min | %5.1f CPU s per member, %4.2f cores | load %s\n",
               l, wall, k * 60 / wall, cpu / k, cpu / wall, load }'
}

echo "cgdml ensemble: $K members of $M frames, sigma1 0.25, lambda 0.2667 ($(nproc) cores)"
run "1 rank, 1 thread" 1 mpirun -np 1 "$BIN" ensemble
run "2 ranks, 1 thread each" 1 mpirun --oversubscribe -np 2 "$BIN" ensemble
run "1 process, 2 threads" 2 "$BIN" ensemble
cmp -s "$tmp/1 rank, 1 thread.npy" "$tmp/2 ranks, 1 thread each.npy" ||
    { echo "forces of 2 ranks differ from 1 rank's" >&2; exit 1; }
echo "  1 and 2 ranks: identical distilled forces (200 frames, byte for byte)"
/usr/bin/python3 - "$tmp/1 rank, 1 thread.npy" "$tmp/1 process, 2 threads.npy" <<'PY'
import struct, sys
def forces(path):  # a little-endian float64 .npy (cgdml predict), version 1
    raw = open(path, "rb").read()
    start = 10 + struct.unpack("<H", raw[8:10])[0]
    return struct.unpack("<%dd" % ((len(raw) - start) // 8), raw[start:])
a, b = forces(sys.argv[1]), forces(sys.argv[2])
diff = max(abs(x - y) for x, y in zip(a, b)) / max(abs(x) for x in a)
print("  1 process with 2 threads against 1 thread: forces differ by %.1e relative" % diff)
PY
