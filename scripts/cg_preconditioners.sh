#!/usr/bin/env bash
# scripts/cg_preconditioners.sh - the measurement behind the CG solver's default
# preconditioner (README, "One model on all frames"): `cgdml train --solver cg` on
# M shipped frames (drawn with --seed 1; sigma 1, lambda 1e-3, tolerance 1e-5)
# with no preconditioner, block-Jacobi over stratified or contiguous blocks, and
# Nystrom with several landmark counts; one markdown row per run: iterations,
# seconds of preconditioner setup and of iterations, preconditioner memory.
# Times are wall-clock on whatever else the machine runs.
# usage: scripts/cg_preconditioners.sh [M ...]   (default 2000), from the repository;
#        ROWS=nystrom runs only the Nystrom rows (ROWS=all, the default: every row)
set -euo pipefail
bin=${CGDML_BIN:-build/cgdml}
data=${DATA:-datasets/ala2_cg6.h5}
max_iterations=${MAX_ITERATIONS:-3000}
rows=${ROWS:-all}
work=$(mktemp -d /tmp/cgdml-precond-XXXXXX)
trap 'rm -rf "$work"' EXIT

row() { # M, label, cgdml options...
  local m=$1 label=$2 out
  shift 2
  out=$("$bin" train --data "$data" --n-train "$m" --seed 1 --sigma 1 --lambda 1e-3 \
        --solver cg --tolerance 1e-5 --max-iterations "$max_iterations" "$@" \
        -o "$work/m.h5" 2>&1 | grep -v "CG iteration" || true)
  rm -f "$work/m.h5" "$work/m.h5.checkpoint"
  local iters setup cg mem
  iters=$(sed -n 's/.*(\([0-9]*\) iterations.*/\1/p' <<<"$out")
  setup=$(sed -n 's/^  preconditioner *\([0-9.]*\) s.*/\1/p' <<<"$out")
  cg=$(sed -n 's/^  CG *\([0-9.]*\) s.*/\1/p' <<<"$out")
  mem=$(sed -n 's/.*, \([0-9.]*\) GB)$/\1/p' <<<"$out" | head -1)
  if grep -q "after $max_iterations iterations" <<<"$out"; then
    iters=">$max_iterations"
    cg=$(sed -n 's/.*relative residual of \([0-9.e+-]*\) after.*/(residual \1)/p' <<<"$out")
  fi
  echo "| $m | $label | ${iters:-?} | ${setup:-0} | ${cg:-?} | ${mem:-0} |"
}

echo "| frames | preconditioner | iterations | setup s | CG s | memory GB |"
echo "|---:|---|---:|---:|---:|---:|"
for m in "${@:-2000}"; do
  if [ "$rows" = all ]; then
    row "$m" "none" --preconditioner none
  fi
  for b in $( [ "$rows" = all ] && echo $((m / 2)) $((m / 4)) ); do
    row "$m" "blocks of $b, stratified" --preconditioner blocks --block-frames "$b"
    row "$m" "blocks of $b, contiguous" --preconditioner blocks --block-frames "$b" \
      --block-layout contiguous
  done
  row "$m" "Nystrom, automatic landmarks" --preconditioner nystrom
  for l in 50 100 200; do
    row "$m" "Nystrom, $l landmarks" --preconditioner nystrom --landmarks "$l"
  done
done
