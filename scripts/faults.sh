#!/usr/bin/env bash
# The full fault suite (docs/reliability.md): the services as OS processes, 200 conversations of
# 20 messages per scenario (100 per channel), every scenario, `runs` times in a row, each
# scenario's Jepsen-style report appended to target/faults/reports.jsonl.
#
#   scripts/faults.sh [runs]                   process-level scenarios only
#   FAULTS_DISRUPTIVE=1 scripts/faults.sh 5    also restart RabbitMQ (stop_app/start_app and
#                                              kill -9 of the node) and PostgreSQL (immediate
#                                              stop): this breaks every other test running on
#                                              the machine, so only on a machine of your own.
#
# FAULTS_CONVERSATIONS / FAULTS_MESSAGES override the size (per channel / per conversation).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botplatform/target}
cd "$repo"
ensure_services

runs=${1:-1}
export FAULTS_CONVERSATIONS=${FAULTS_CONVERSATIONS:-100}
export FAULTS_MESSAGES=${FAULTS_MESSAGES:-20}
mkdir -p "$CARGO_TARGET_DIR/faults"
export FAULTS_REPORT=${FAULTS_REPORT:-$CARGO_TARGET_DIR/faults/reports.jsonl}
services_log "fault suite: $runs run(s), $FAULTS_CONVERSATIONS conversations x $FAULTS_MESSAGES messages per channel, disruptive=${FAULTS_DISRUPTIVE:-0}; reports in $FAULTS_REPORT"
cargo build --bins -p admin -p api-gateway -p whatsapp-ingress -p flow-executor -p sender -p meta-emulator
for run in $(seq 1 "$runs"); do
    services_log "run $run of $runs"
    echo "{\"run\": $run, \"started\": \"$(date -u +%FT%TZ)\"}" >>"$FAULTS_REPORT"
    log="$CARGO_TARGET_DIR/faults/run-$run.log"
    status=0
    cargo test -p e2e --test faults -- --test-threads 1 --nocapture >"$log" 2>&1 || status=$?
    grep -E "^FAULTS|test result|panicked|failed scenarios|^logs:" "$log" || true
    if [ "$status" -ne 0 ]; then
        services_log "run $run FAILED: $log"
        exit 1
    fi
done
services_log "all $runs run(s) passed"
