#!/usr/bin/env bash
# Runs every test of the project: unit and integration tests (pipes, pty, files, HTTP
# servers, the real ejabberd and Prosody end-to-end suites), the file-only build, a compile
# check for 32-bit MIPS, a smoke run of the benchmark suite, and the package tests. Suites
# that need system packages (ejabberd, prosody, nginx, ...) skip loudly when those are
# missing, and fail instead when CI=true. `.ci/run` installs them first.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed_steps=()

step() {
    local name=$1
    shift
    echo "== $name: $*"
    if ! "$@" 2>&1 | tee -a "$log"; then
        failed_steps+=("$name")
    fi
}

step "tests (default features)" cargo test --all-targets
# Both end-to-end suites again on the file-only build: it is what routers run, under Prosody.
step "tests (file-only build)" cargo test --no-default-features --lib --test binary --test file_backend --test e2e --test e2e_prosody
# The users-file lock timer (timer_create + SIGALRM) and the inotify watch are libc
# territory: check them on the static musl build that routers run, not only on glibc.
step "lock timer on musl" cargo test --target x86_64-unknown-linux-musl --no-default-features --lib backend::file::write
step "file watch on musl" cargo test --target x86_64-unknown-linux-musl --no-default-features --test file_watch
step "tests (HTTP without TLS)" cargo test --no-default-features --features http --test http_backend
# OpenWrt's mips_24kc and mipsel_24kc are 32-bit with no 64-bit atomics, and mips is
# big-endian: check that the code compiles there (std built from rust-src, as
# packaging/build.sh does). TLS is left out: ring's C code would need a MIPS C compiler.
step "compiles for 32-bit MIPS" env RUSTC_BOOTSTRAP=1 cargo check -Z build-std=std,panic_abort \
    --target mips-unknown-linux-musl --no-default-features --features http --target-dir target/mips-check
# The benchmark suite, one short round: every case runs and every answer is checked; speed
# is not judged (figures come from full runs on a quiet machine, see README Performance).
step "benchmark smoke" bash bench/run.sh --smoke --out target/bench-smoke
if [ -x packaging/test.sh ] || [ -f packaging/test.sh ]; then
    step "package tests" bash packaging/test.sh --target x86_64-unknown-linux-musl
fi

# One closing line that counts every test run above.
# cargo prints one "test result:" line per test binary; packaging/test.sh ends with one
# "pkg: N passed, M failed" line (counted once).
count() {
    { grep -oE "test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed" "$log"
      grep -oE "^pkg: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1; } |
        grep -oE "[0-9]+ $1" | awk '{s+=$1} END {print s+0}'
}
passed=$(count passed)
failed=$(count failed)
if [ ${#failed_steps[@]} -gt 0 ]; then
    echo "failed steps: ${failed_steps[*]}"
    [ "$failed" -gt 0 ] || failed=${#failed_steps[@]}
fi
echo "all: $passed passed, $failed failed"
[ ${#failed_steps[@]} -eq 0 ]
