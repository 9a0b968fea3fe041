#!/usr/bin/env bash
# Runs every test of the workspace (unit, integration and end-to-end) against the local
# PostgreSQL and RabbitMQ, starting them first if they are down.
#
#   scripts/test.sh                       everything
#   scripts/test.sh -p flow               arguments go to the test runner
#   scripts/test.sh -E 'test(publish)'    (nextest filter expressions when nextest is installed)
#
# The runner is cargo-nextest when installed (each test in its own process, run in parallel
# across binaries), else `cargo test`. nextest does not run doctests, so they follow with
# `cargo test --doc` (skipped when arguments narrow the run). Then the console's browser tests
# (scripts/console.sh test; skipped when arguments narrow the run or SKIP_BROWSER_TESTS=1).
# Builds go to ${CARGO_TARGET_DIR:-~/.cache/botplatform/target}, outside the clone, so that
# every clone and every CI run on this machine reuses the same compiled dependencies.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botplatform/target}
cd "$repo"

services_log "checking PostgreSQL and RabbitMQ"
ensure_services

if [ "$#" -eq 0 ] && [ "${SKIP_BROWSER_TESTS:-0}" != 1 ]; then
    # Before any Rust build: the admin's console files (rust-embed) are looked for when the
    # admin is compiled, and a build without console/dist serves no console at all.
    bash "$repo/scripts/console.sh" build
fi

if cargo nextest --version >/dev/null 2>&1; then
    services_log "cargo nextest run --workspace $*"
    cargo nextest run --workspace "$@"
    if [ "$#" -eq 0 ]; then
        services_log "cargo test --workspace --doc"
        cargo test --workspace --doc
    fi
else
    services_log "cargo test --workspace $*"
    cargo test --workspace "$@"
fi

if [ "$#" -eq 0 ] && [ "${SKIP_BROWSER_TESTS:-0}" != 1 ]; then
    services_log "the console's browser tests (scripts/console.sh test)"
    bash "$repo/scripts/console.sh" test
fi
