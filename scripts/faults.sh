#!/usr/bin/env bash
# The full fault suite (docs/reliability.md): the services as OS processes on a PostgreSQL and a
# RabbitMQ node of the suite's own (started and removed by each test; the machine's shared
# servers are never touched), 200 conversations of 20 messages per scenario (100 per channel),
# every scenario including the broker's and the database's stops and kills, `runs` times in a
# row, each scenario's Jepsen-style report appended to target/faults/reports.jsonl.
#
#   scripts/faults.sh [runs]
#
# FAULTS_CONVERSATIONS / FAULTS_MESSAGES override the size (per channel / per conversation);
# FAULTS_DISRUPTIVE=0 leaves out rabbitmq-stop-app and postgres-immediate (as the CI subset);
# FAULTS_PROFILE (default release) is the profile of the service binaries the suite runs: release
# turns messages around several times faster than debug on a loaded machine. Only the services
# are built in it; the test (the clients and the checker) stays a debug build.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botplatform/target}
cd "$repo"

runs=${1:-1}
export FAULTS_CONVERSATIONS=${FAULTS_CONVERSATIONS:-100}
export FAULTS_MESSAGES=${FAULTS_MESSAGES:-20}
export FAULTS_DISRUPTIVE=${FAULTS_DISRUPTIVE:-1}
export FAULTS_PROFILE=${FAULTS_PROFILE:-release}
mkdir -p "$CARGO_TARGET_DIR/faults"
export FAULTS_REPORT=${FAULTS_REPORT:-$CARGO_TARGET_DIR/faults/reports.jsonl}
services_log "fault suite: $runs run(s), $FAULTS_CONVERSATIONS conversations x $FAULTS_MESSAGES messages per channel, disruptive=$FAULTS_DISRUPTIVE, $FAULTS_PROFILE services; reports in $FAULTS_REPORT"
cargo build --bins --profile "$FAULTS_PROFILE" \
    -p admin -p api-gateway -p whatsapp-ingress -p flow-executor -p sender -p meta-emulator
cargo test --no-run -p e2e --test faults
batch=$(date -u +%Y%m%dT%H%M%S)
for run in $(seq 1 "$runs"); do
    services_log "run $run of $runs (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "{\"run\": $run, \"started\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$FAULTS_REPORT"
    log="$CARGO_TARGET_DIR/faults/$batch-run-$run.log"
    status=0
    started=$(date +%s)
    cargo test -p e2e --test faults -- --test-threads 1 --nocapture >"$log" 2>&1 || status=$?
    echo "{\"run\": $run, \"seconds\": $(($(date +%s) - started)), \"status\": $status, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$FAULTS_REPORT"
    grep -E "^FAULTS|test result|panicked|failed scenarios|^logs:" "$log" || true
    if [ "$status" -ne 0 ]; then
        services_log "run $run FAILED: $log"
        exit 1
    fi
done
services_log "all $runs run(s) passed"
