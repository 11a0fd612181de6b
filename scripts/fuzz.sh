#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time: `scripts/fuzz.sh [SECONDS]`
# (default 30 per target). Fails if any target crashes, panics, times out on an input
# or runs out of memory; the input that did it is left in fuzz/artifacts/<target>/.
#
# Installs cargo-fuzz (pinned) and the nightly toolchain if missing. Builds into
# target/fuzz (FUZZ_TARGET_DIR), under `flock $FUZZ_BUILD_LOCK` when that is set (a
# shared build machine; leave it unset when the caller already holds the lock). Each
# target starts from its committed seeds in fuzz/corpus/<target>/, read only: what a run
# discovers goes to a temporary directory, so CI runs never grow the committed corpus.
#
# Longer runs of one target, by hand (new inputs are then added to the committed corpus;
# commit the few that matter):
#   cd fuzz && cargo +nightly fuzz run <target> -- -max_total_time=3600
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

SECONDS_PER_TARGET="${1:-30}"
CARGO_FUZZ_VERSION=0.13.2
TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"
# Debug assertions and overflow checks on: an arithmetic overflow on hostile input is a
# finding, not a wrap-around.
BUILD_FLAGS=(--debug-assertions --target-dir "$TARGET_DIR")

locked() {
    if [ -n "${FUZZ_BUILD_LOCK:-}" ]; then flock "$FUZZ_BUILD_LOCK" "$@"; else "$@"; fi
}

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "installing the nightly toolchain (cargo-fuzz needs it for the sanitizer flags)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    locked cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cd fuzz
mapfile -t targets < <(cargo +nightly fuzz list)
echo "=== building ${#targets[@]} fuzz targets"
locked cargo +nightly fuzz build "${BUILD_FLAGS[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
    echo "=== fuzzing $t for ${SECONDS_PER_TARGET}s"
    mkdir -p "$scratch/$t"
    # The first corpus directory receives new inputs; the committed one is only read.
    if ! cargo +nightly fuzz run "${BUILD_FLAGS[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
        2>"$scratch/$t.log"; then
        failed+=("$t")
        tail -n 60 "$scratch/$t.log"
    fi
    # One line per target: executions, speed and coverage reached.
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|#[0-9]+[[:space:]]+DONE)' \
        "$scratch/$t.log" | tr '\n' ' ' || true
    echo
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "error: fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "=== all ${#targets[@]} fuzz targets ran ${SECONDS_PER_TARGET}s without a failure"
