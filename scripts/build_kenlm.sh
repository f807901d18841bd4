#!/usr/bin/env bash
# Build KenLM's training tools (lmplz, build_binary) from kenlm's source distribution on PyPI and
# install them into a virtual environment's bin/. The pip `kenlm` package only scores; training
# a model needs these binaries. Called by `make install`; safe to run again (skips when built).
#
#   scripts/build_kenlm.sh [VENV]        (default .venv)
#
# Needs a C++ compiler, cmake, Boost (program_options, system, thread, test) and zlib/bz2/lzma
# headers: on Debian `apt-get install build-essential cmake libboost-program-options-dev
# libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev`
# (the Makefile's install target runs that line when apt-get is there and the headers are not).
set -euo pipefail

VENV="${1:-.venv}"
BIN="$(cd "$VENV" && pwd)/bin"
PY="$BIN/python"
if [[ -x "$BIN/lmplz" && -x "$BIN/build_binary" && "${KENLM_REBUILD:-0}" != 1 ]]; then
  echo "kenlm: lmplz and build_binary already in $BIN"
  exit 0
fi
for tool in cmake c++; do
  command -v "$tool" >/dev/null || { echo "kenlm: $tool not found (apt-get install cmake build-essential)" >&2; exit 1; }
done
if [[ ! -e /usr/include/boost/program_options.hpp ]]; then
  echo "kenlm: Boost headers not found (apt-get install libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev)" >&2
  exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
VERSION="${KENLM_VERSION:-0.3.0}"
"$PY" -m pip install -q setuptools wheel  # no-op when present: the sdist is unpacked without build isolation
"$PY" -m pip download -q --no-binary :all: --no-deps --no-build-isolation "kenlm==$VERSION" -d "$WORK"
tar -xzf "$WORK"/kenlm-*.tar.gz -C "$WORK"
SRC="$(find "$WORK" -maxdepth 1 -type d -name 'kenlm-*' | head -1)"
mkdir -p "$SRC/build"
cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=Release -DCOMPILE_TESTS=OFF -DENABLE_PYTHON=OFF >"$WORK/cmake.log" 2>&1 \
  || { tail -30 "$WORK/cmake.log" >&2; exit 1; }
JOBS="${KENLM_JOBS:-$(nproc 2>/dev/null || echo 2)}"
cmake --build "$SRC/build" --target lmplz build_binary -j "$JOBS" >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; exit 1; }
install -m 0755 "$SRC/build/bin/lmplz" "$SRC/build/bin/build_binary" "$BIN/"
echo "kenlm: installed lmplz and build_binary (kenlm $VERSION) into $BIN"
