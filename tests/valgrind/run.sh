#!/usr/bin/env bash
# tests/valgrind/run.sh - the Criterion suite under Valgrind memcheck (`make
# valgrind`, in .ci/run).  Every test process and every `cgdml` the command-line
# tests start runs under memcheck (--trace-children; shells and coreutils are
# skipped); each writes its own log, and the run fails if any log reports a memory
# error or a definite/indirect leak.  Memory that libhdf5, OpenBLAS and libgomp keep
# for the process's lifetime is "still reachable", not a leak, and is not counted.
#
# Memcheck runs code 20-50 times slower, so the 30 tests whose work is statistics,
# training hundreds of frames or a whole pipeline (seconds natively, listed in
# HEAVY) are left to the native and ASan runs of `make test`; every other test
# runs here, the command-line tests with all their cgdml processes.
# Usage: tests/valgrind/run.sh BUILD_DIR [criterion options...]
set -uo pipefail
build=${1:?usage: $0 BUILD_DIR [criterion options]}
shift
HEAVY='pipeline/*|study/*|kill/ensemble_killed*|kill/simulate_*_resumes*'
HEAVY+='|ensemble/cross_validation_picks*|ensemble/average_and_distilled*'
HEAVY+='|cli/run_writes*|cli/shipped_dataset*|cli/import_refuses_every_foreign*'
HEAVY+='|simulate/seeds_reproduce*|simulate/double_well*|simulate/memory_budget*'
HEAVY+='|model/held_out_error_falls*|bad_input/nan_and_inf_in_h5md*'
HEAVY+='|cli/ensemble_resumes_to_the_same_model|cli/synthetic_train_eval_predict_round'
HEAVY+='|mixed/refined_solve*|mixed/ill_conditioned*|simulate/equilibrium_starts*'
HEAVY+='|ensemble/layer2_cross_validation*|fes/matched_floor*|simulate/basin_starts*'
HEAVY+='|ensemble/binned_error*|pipeline_call/*|ensemble/lambda2_is_cross*'
HEAVY+='|cli/ensemble_shards_collect*|cli/ensemble_partition_of*|ensemble/partition_members*'
# CG solves of hundreds of frames or thousands of iterations, and the peak-memory
# measurements (meaningless under memcheck, which keeps its own shadow memory)
HEAVY+='|cg/agrees_with_cholesky*|cg/nystrom_preconditioner*|cg/every_preconditioner*'
HEAVY+='|train_memory/*|kill/train_cg_killed*|ensemble/cg_members*|cli/ensemble_members_by_cg'

logs=$(mktemp -d /tmp/cgdml-valgrind-XXXXXX)
here=$(cd "$(dirname "$0")" && pwd)
options="--leak-check=full --errors-for-leak-kinds=definite,indirect"
options+=" --show-leak-kinds=definite,indirect --num-callers=30"
options+=" --suppressions=$here/hdf5.supp --log-file=$logs/vg.%p.log"
# The command-line tests run $CGDML_BIN through sh, which memcheck does not follow
# (it would trace every shell): they get a stand-in that runs cgdml under memcheck.
export CGDML_VALGRIND_OPTIONS="$options" CGDML_VALGRIND_PROGRAM=$PWD/$build/cgdml
export CGDML_BIN=$here/cgdml CGDML_SRC=$PWD OMP_NUM_THREADS=1
start=$(date +%s)
# shellcheck disable=SC2086 # the options are a word list
valgrind --trace-children=yes \
  --trace-children-skip='*/sh,*/bash,*/dash,*/rm,*/cp,*/cmp,*/ls,*/grep,*/mkdir,*/python3*' \
  $options "$build/tests/cgdml_tests" --filter "!($HEAVY)" "$@"
suite=$?
# A process that exec'd another program (a test's fork running sh) ends its log
# without a summary; every finished process must report 0 errors.
bad=$(grep -l "ERROR SUMMARY: [1-9]" "$logs"/vg.*.log 2>/dev/null)
checked=$(grep -l "ERROR SUMMARY" "$logs"/vg.*.log | wc -l)
programs=$(grep -l "Command: $PWD/$build/cgdml " "$logs"/vg.*.log | wc -l)
echo "valgrind: $checked processes checked ($programs runs of cgdml) in" \
     "$(( $(date +%s) - start )) s, $(echo -n "$bad" | grep -c .) with memory errors or leaks"
for f in $bad; do
  echo "---- $f"; cat "$f"
done
if [ "$suite" -ne 0 ] || [ -n "$bad" ]; then
  echo "valgrind: FAILED (suite exit $suite; logs kept in $logs)"
  exit 1
fi
rm -rf "$logs"
