#!/usr/bin/env bash
# Smoke-runs every cargo-fuzz target on the stable toolchain.
#
# Builds all targets once, then runs each for FUZZ_SECONDS (default 20) starting from
# the checked-in seeds (fuzz/seeds/<target>/) plus whatever corpus earlier runs left in
# fuzz/corpus/<target>/. Prints one summary line per target and exits non-zero if any
# target crashed, hung or failed to run; crash inputs land in fuzz/artifacts/<target>/.
#
# Stable works because the sanitizer is turned off (`-s none`): cargo-fuzz then only
# passes stable `-C` flags (sancov instrumentation) and needs no `-Z` option.
#
# gateway_steps is stateful: each input is a program of steps (requests from several LAN
# hosts, time steps, restarts, table loss) run against the gateway core, with invariants
# checked after every step; it gets longer inputs than the parsers' default.
#
# Usage: scripts/fuzz-smoke.sh [target...]      (default: every target)
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

echo "fuzz-smoke: $(cargo fuzz --version), $(rustc --version)"
echo "fuzz-smoke: building all targets"
cargo fuzz build -s none

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=0
summary=()

for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    corpora=("fuzz/corpus/$target")
    if [ -d "fuzz/seeds/$target" ]; then
        corpora+=("fuzz/seeds/$target")
    fi
    extra=()
    case "$target" in
        gateway_steps) extra=(-max_len=1024) ;;
    esac
    log="$logs/$target.log"
    echo "fuzz-smoke: running $target for ${seconds}s"
    status=0
    # The outer timeout only catches a fuzzer that ignores -max_total_time.
    timeout "$((seconds * 2 + 120))" \
        cargo fuzz run -s none "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" \
        >"$log" 2>&1 || status=$?
    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -n 1 || true)"
    cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)"
    if [ "$status" -eq 0 ] && [ -n "$runs" ]; then
        summary+=("$(printf 'PASS  %-14s %10s runs  cov %s' "$target" "$runs" "${cov:-?}")")
    else
        failed=1
        artifact="$(grep -Eo 'fuzz/artifacts/[^ ]+' "$log" | tail -n 1 || true)"
        summary+=("$(printf 'FAIL  %-14s exit %s %s' "$target" "$status" "${artifact:+artifact $artifact}")")
        echo "---- $target: panic message and last log lines ----"
        grep -E -A3 'panicked at' "$log" | cut -c1-400 || true
        grep -vE '^ +([0-9]+: |at )' "$log" | tail -n 15
        echo "----"
    fi
done

echo
echo "fuzz-smoke summary (${seconds}s per target):"
printf '%s\n' "${summary[@]}"
exit "$failed"
