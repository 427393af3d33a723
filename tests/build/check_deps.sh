#!/usr/bin/env bash
# check_deps.sh - the build on a machine that starts without cgdml's Debian packages.
#
# A fresh Debian machine has no pkg-config answer for hdf5/openblas until `make`'s
# deps step has installed them.  This check replays that with stand-ins on PATH,
# without removing anything from the machine:
#   1. pkg-config prints nothing until a stand-in deps script has "installed" the
#      packages (touched a marker); the build must still compile and link the
#      program (so every pkg-config flag is probed after deps, not at parse time),
#      and the fuzz build's flags must come out right too.
#   2. apt-get fails (no network) or the user is not root: make must stop with a
#      message naming the missing packages and the command to run, and leave no
#      build folder behind.
# Usage: tests/build/check_deps.sh [SOURCE_DIR]   (run by `make test`)
set -u
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cgdml-deps.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # check NAME CONDITION-STATUS [DETAIL]
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1${3:+: $3}"; fi
}

# --- 1. flags probed after deps -------------------------------------------------
mkdir -p "$tmp/bin1"
real_pkgconfig=$(command -v pkg-config)
cat >"$tmp/bin1/pkg-config" <<STUB
#!/bin/sh
# Answers nothing, like a machine without the packages, until deps has run.
[ -f "$tmp/installed" ] || exit 1
exec "$real_pkgconfig" "\$@"
STUB
cat >"$tmp/fake_deps.sh" <<STUB
#!/bin/sh
touch "$tmp/installed"
STUB
chmod +x "$tmp/bin1/pkg-config" "$tmp/fake_deps.sh"
PATH="$tmp/bin1:$PATH" make -C "$src" --no-print-directory BUILD="$tmp/b1" \
  DEPS_SCRIPT="$tmp/fake_deps.sh" CFLAGS=-O0 "$tmp/b1/cgdml" >"$tmp/log1" 2>&1
status=$?
check "program builds when pkg-config answers only after deps" $status \
  "$(grep -m1 -E 'error:|Error [0-9]' "$tmp/log1")"
if [ $status -eq 0 ]; then
  "$tmp/b1/cgdml" --version >/dev/null 2>&1
  check "the program built that way runs" $?
fi
# The fuzz build (clang) takes the same flags; checked where its packages exist.
if dpkg-query -W -f='${Status}' libomp-14-dev 2>/dev/null | grep -q "ok installed"; then
  rm -f "$tmp/installed"
  PATH="$tmp/bin1:$PATH" make -C "$src" --no-print-directory FUZZ_DIR="$tmp/f1" \
    DEPS_SCRIPT="$tmp/fake_deps.sh" "$tmp/f1/src/fes.o" >"$tmp/logf" 2>&1
  check "fuzz objects compile when pkg-config answers only after deps" $? \
    "$(grep -m1 -E 'error:|Error [0-9]' "$tmp/logf")"
else
  echo "skip fuzz objects (libomp-14-dev not installed; make fuzz installs it)"
fi

# --- 2. packages cannot be installed ----------------------------------------------
mkdir -p "$tmp/bin2"
printf '#!/bin/sh\nexit 1\n' >"$tmp/bin2/dpkg-query"    # nothing installed
printf '#!/bin/sh\necho "E: network unreachable" >&2\nexit 100\n' >"$tmp/bin2/apt-get"
chmod +x "$tmp/bin2/dpkg-query" "$tmp/bin2/apt-get"
PATH="$tmp/bin2:$PATH" make -C "$src" --no-print-directory BUILD="$tmp/b2" \
  >"$tmp/log2" 2>&1
status=$?
[ $status -ne 0 ] && grep -q "missing Debian packages: gcc make pkg-config" "$tmp/log2" &&
  grep -q "apt-get install -y --no-install-recommends gcc" "$tmp/log2" &&
  grep -q "apt-get update failed" "$tmp/log2"
check "no network: make fails naming the packages and the command" $? "$(tail -3 "$tmp/log2")"
[ ! -e "$tmp/b2" ]
check "no network: nothing half-built is left" $?

printf '#!/bin/sh\necho 1000\n' >"$tmp/bin2/id"              # not root
chmod +x "$tmp/bin2/id"
PATH="$tmp/bin2:$PATH" make -C "$src" --no-print-directory BUILD="$tmp/b3" \
  >"$tmp/log3" 2>&1
status=$?
[ $status -ne 0 ] && grep -q "not root" "$tmp/log3" &&
  grep -q "missing Debian packages: gcc make" "$tmp/log3" && [ ! -e "$tmp/b3" ]
check "not root: make fails naming the packages, nothing built" $? "$(tail -3 "$tmp/log3")"

echo "build-check: $passed passed, $failed failed"
[ $failed -eq 0 ]
