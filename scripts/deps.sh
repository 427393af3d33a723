#!/usr/bin/env bash
# deps.sh - install the Debian packages cgdml needs, only those missing (idempotent).
# Called by `make deps`, and by every other make target through it.  Usage:
#   scripts/deps.sh [build|python|fuzz|valgrind|mpi|all]     (default: build)
# The MPI packages come only with `mpi` (make MPI=1): the default build, make run and
# make test need no MPI.
set -euo pipefail

build_pkgs=(gcc make pkg-config libopenblas-openmp-dev liblapacke-dev libgsl-dev
            libhdf5-dev zlib1g-dev libcriterion-dev)
python_pkgs=(python3-simtk python3-numpy python3-h5py python3-matplotlib python3-mdanalysis
             jupyter-nbconvert python3-nbconvert python3-nbformat python3-ipykernel python3-ase)
# make fuzz: clang 14 (Debian 12's default); libclang-rt-14-dev holds libFuzzer and the
# sanitizer runtimes (only recommended by clang, and we install without recommends);
# libomp-14-dev is clang's OpenMP runtime for -fopenmp.
fuzz_pkgs=(clang libclang-rt-14-dev libomp-14-dev)
valgrind_pkgs=(valgrind)
# make MPI=1: Open MPI (mpicc, mpirun) and ScaLAPACK built on it, which brings its
# BLACS (Debian links it to the libblas.so.3 alternative, OpenBLAS here).
mpi_pkgs=(openmpi-bin libopenmpi-dev libscalapack-openmpi-dev)

case "${1:-build}" in
  build)  wanted=("${build_pkgs[@]}") ;;
  python) wanted=("${python_pkgs[@]}") ;;
  fuzz)   wanted=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  valgrind) wanted=("${build_pkgs[@]}" "${valgrind_pkgs[@]}") ;;
  mpi)    wanted=("${build_pkgs[@]}" "${mpi_pkgs[@]}") ;;
  all)    wanted=("${build_pkgs[@]}" "${python_pkgs[@]}" "${fuzz_pkgs[@]}" "${valgrind_pkgs[@]}"
                  "${mpi_pkgs[@]}") ;;
  *) echo "usage: $0 [build|python|fuzz|valgrind|mpi|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The pthread build of OpenBLAS would be a second BLAS beside the OpenMP one we link.
conflicting=()
for p in libopenblas0-pthread libopenblas-pthread-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && conflicting+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#conflicting[@]} -eq 0 ] && exit 0

# What a person (or a CI script) can run to fix it by hand.
fix="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
[ ${#conflicting[@]} -gt 0 ] && fix="$fix && apt-get remove -y ${conflicting[*]}"
fail() {
  echo "deps: $1" >&2
  [ ${#missing[@]} -gt 0 ] && echo "deps: missing Debian packages: ${missing[*]}" >&2
  [ ${#conflicting[@]} -gt 0 ] && echo "deps: packages to remove: ${conflicting[*]}" >&2
  echo "deps: as root, run:  $fix" >&2
  echo "deps: then run make again (nothing was built)" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || fail "not root, so the packages cgdml needs cannot be installed"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  apt-get update -qq || fail "apt-get update failed (no network to the Debian archive?)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    fail "apt-get install failed"
fi
if [ ${#conflicting[@]} -gt 0 ]; then
  echo "deps: removing ${conflicting[*]} (cgdml links the OpenMP build of OpenBLAS)"
  apt-get remove -y -qq "${conflicting[@]}" >/dev/null || fail "apt-get remove failed"
fi
