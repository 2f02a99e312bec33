#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a fixed time each, one after the other,
# and prints one summary line per target: executions, new corpus size, crash or not.
#
#   fuzz/run.sh [SECONDS] [TARGET...]       default: 60 s each, all targets
#   fuzz/run.sh 30                          the CI smoke run (~30 s per target)
#
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz --locked`). Seeds are generated first (fuzz/seed_corpus.py);
# findings go to fuzz/artifacts/<target>/. A crash makes the script exit 1: copy the
# artifact into tests/fuzz_regressions/<target>/ so `cargo test` replays it for good.
#
# Environment: FUZZ_SANITIZER (default `none`: the fuzzed code has no `unsafe`, and
# without ASan it runs several times faster; `address` works too), FUZZ_JOBS is not
# offered on purpose: the build machines are small and shared, targets run in turn.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
all=$(cargo +nightly fuzz list)
targets=${*:-$all}

python3 seed_corpus.py || exit 2
mkdir -p artifacts
# Debug assertions on: integer overflow panics instead of wrapping silently.
nice cargo +nightly fuzz build -s "$sanitizer" --debug-assertions >/dev/null 2>artifacts/build.log || {
    cat artifacts/build.log
    exit 2
}
failed=0
summary=()
for t in $targets; do
    mkdir -p "artifacts/$t" "corpus/$t"
    log="artifacts/$t/last-run.log"
    nice cargo +nightly fuzz run -s "$sanitizer" --debug-assertions "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=4096 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
    if [ $rc -ne 0 ]; then
        failed=1
        crash=$(grep -oE "artifacts/$t/[a-z]+-[0-9a-f]+" "$log" | tail -n 1)
        summary+=("$t: FAILED (exit $rc) after ${runs:-?} runs: ${crash:-see $log}")
    else
        summary+=("$t: ok, ${runs:-?} runs in ${secs} s, corpus ${corp:-?}")
    fi
done
printf '%s\n' "${summary[@]}"
exit $failed
