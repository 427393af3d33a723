#!/usr/bin/env bash
# run_target.sh - run one libFuzzer target for `make fuzz` and judge what it found.
#   tests/fuzz/run_target.sh NAME SECONDS TIMEOUT      (from the repository root)
#
# build-fuzz/fuzz_NAME runs for SECONDS on build-fuzz/corpus/NAME (the seeds of
# tests/fuzz/corpus/NAME copied in; never written back).  It runs in libFuzzer's
# fork mode with crashes, OOMs and timeouts ignored, so that one finding does not
# end the run: every input that failed is kept in build-fuzz/crashes/NAME/.  Each is
# then replayed and its report judged by the first stack frame outside libc and
# the sanitizer runtime:
#   - in libhdf5: a bug of libhdf5 1.10.8 (Debian 12) on a damaged file, which
#     cgdml cannot fix; listed, does not fail the run;
#   - anywhere else (cgdml, the target's own checks), or no stack at all: a
#     finding; the run fails.
# Replay one by hand: build-fuzz/fuzz_NAME FILE (with the options exported below).
set -uo pipefail

name=$1 seconds=$2 timeout=$3
bin=build-fuzz/fuzz_$name
corpus=build-fuzz/corpus/$name
crashes=build-fuzz/crashes/$name
log=build-fuzz/fuzz_$name.log

export ASAN_OPTIONS=allocator_may_return_null=1:suppressions=$PWD/tests/fuzz/asan.supp
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1
export OMP_NUM_THREADS=1

mkdir -p "$corpus" "$crashes"
cp tests/fuzz/corpus/"$name"/* "$corpus"/
echo "== fuzz_$name: $seconds s"
"$bin" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
  -max_total_time="$seconds" -timeout="$timeout" -artifact_prefix="$crashes"/ \
  "$corpus" >"$log" 2>&1
grep -E '^#[0-9]+: cov' "$log" | tail -n 1

# Stack frames of libc, the sanitizer runtimes and libFuzzer, skipped when judging.
RUNTIME_FRAMES=' in (__interceptor_|__asan|__sanitizer|__lsan|__ubsan|fuzzer::)| in (malloc|calloc|realloc|free|abort|raise|gsignal) |libc\.so|sysdeps/|/string/|stdlib/|nptl/'

# The first frame of a report outside the runtime: "libhdf5", "none" or the frame.
first_frame() {
  local frame
  frame=$(grep -E '^ +#[0-9]+ 0x' "$1" | grep -vE "$RUNTIME_FRAMES" | head -n 1)
  case "$frame" in
    "") echo none ;;
    *libhdf5*) echo libhdf5 ;;
    *) echo "${frame#* in }" ;;
  esac
}

status=0
for input in "$crashes"/*; do
  [ -f "$input" ] && [[ "$input" != *.txt ]] || continue
  "$bin" -timeout="$timeout" "$input" >"$input.txt" 2>&1 && continue
  where=$(first_frame "$input.txt")
  if [ "$where" = libhdf5 ]; then
    echo "   libhdf5 crash (not cgdml's): $input"
  else
    echo "   FINDING ($where): $input (report: $input.txt)"
    status=1
  fi
done
exit $status
