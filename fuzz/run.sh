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
# Environment: FUZZ_SANITIZER (default `none`: safe Rust needs no ASan to catch memory
# errors, and without it the targets run several times faster), ASAN_TARGETS (default
# `users_file_parse`: the users-file parser reads words with `ptr::read_unaligned`, so that
# target runs under AddressSanitizer). Targets run one after the other, never in
# parallel: the build machines are small and shared.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
asan_targets=" ${ASAN_TARGETS-users_file_parse} "
all=$(cargo +nightly fuzz list)
targets=${*:-$all}
san_of() {
    case "$asan_targets" in *" $1 "*) echo address ;; *) echo "$sanitizer" ;; esac
}
# ASan targets last: switching sanitizers rebuilds everything once.
targets="$(for t in $targets; do [ "$(san_of "$t")" = address ] || echo "$t"; done)
$(for t in $targets; do [ "$(san_of "$t")" = address ] && echo "$t"; done)"

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
    nice cargo +nightly fuzz run -s "$(san_of "$t")" --debug-assertions "$t" "corpus/$t" -- \
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
        summary+=("$t: ok, ${runs:-?} runs in ${secs} s, corpus ${corp:-?}, sanitizer $(san_of "$t")")
    fi
done
printf '%s\n' "${summary[@]}"
exit $failed
