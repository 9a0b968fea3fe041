#!/usr/bin/env bash
# Fuzzes the admin API and the API gateway from their own OpenAPI documents with schemathesis
# (PyPI), `--checks all`: no server error, no undocumented status code, no response that does
# not match its schema, no schema-valid request refused, no schema-invalid one accepted, 405
# with `Allow` for the methods a path does not have.
#
#   scripts/schemathesis.sh                      20 examples per operation (about 2 minutes)
#   scripts/schemathesis.sh --max-examples 200   a longer run (docs/openapi/README.md)
#   SCHEMATHESIS_SEED=42 scripts/schemathesis.sh reproduce a run
#
# It installs schemathesis (pinned) into a virtual environment when missing, starts the
# `platform` binary on its own database (dropped first), RabbitMQ vhost and ports, seeds a
# throwaway account (schemathesis deletes and deactivates what it is allowed to), a published
# bot and an active API integration through the admin API, and runs both documents. Checks
# that cannot apply are excluded narrowly, with the reason, in the config written below.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"

max_examples=20
while [ "$#" -gt 0 ]; do
    case "$1" in
        --max-examples) max_examples=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

version=4.32.5
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botplatform/target}
venv=${SCHEMATHESIS_VENV:-$HOME/.cache/botplatform/schemathesis-$version}
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    services_log "installing schemathesis $version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

services_log "checking PostgreSQL and RabbitMQ"
ensure_services
database=botplatform_schemathesis
vhost=schemathesis
drop_database "$database"
ensure_database "$database"
rabbit_api=http://127.0.0.1:15672/api
curl -fsS -u guest:guest -X DELETE "$rabbit_api/vhosts/$vhost" >/dev/null 2>&1 || true
curl -fsS -u guest:guest -X PUT "$rabbit_api/vhosts/$vhost" >/dev/null
curl -fsS -u guest:guest -X PUT -H 'content-type: application/json' \
    -d '{"configure":".*","write":".*","read":".*"}' \
    "$rabbit_api/permissions/$vhost/guest" >/dev/null

work=$(mktemp -d)
platform_pid=""
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -s "$work/platform.log" ]; then
        # The scratch directory goes below: what the platform said is the failure's first clue.
        echo "--- the platform's log (last 40 lines) ---"
        tail -n 40 "$work/platform.log"
    fi
    if [ -n "$platform_pid" ]; then
        kill "$platform_pid" 2>/dev/null || true
        wait "$platform_pid" 2>/dev/null || true
    fi
    curl -fsS -u guest:guest -X DELETE "$rabbit_api/vhosts/$vhost" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

port_base=${SCHEMATHESIS_PORT_BASE:-18080}
admin_url=http://127.0.0.1:$port_base
gateway_url=http://127.0.0.1:$((port_base + 1))
bootstrap=op_$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c 40)

services_log "building the platform in $CARGO_TARGET_DIR"
(cd "$repo" && cargo build --workspace --bins --locked --quiet)

# schemathesis sends thousands of requests with missing or wrong credentials on purpose; the
# sign-in failure limit (docs/security.md, tested in tests/tests/security_rate_limits.rs) would
# answer them all 429 after the first 20 and hide every other answer, so it is lifted here.
services_log "starting the platform (log: $work/platform.log)"
env DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database" \
    AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$vhost" \
    DEPLOYMENT_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')" \
    ADMIN_BOOTSTRAP_TOKEN="$bootstrap" \
    ADMIN_HOST=127.0.0.1 ADMIN_PORT=$port_base \
    API_GATEWAY_HOST=127.0.0.1 API_GATEWAY_PORT=$((port_base + 1)) \
    INGRESS_HOST=127.0.0.1 INGRESS_PORT=$((port_base + 2)) \
    EXECUTOR_HOST=127.0.0.1 EXECUTOR_PORT=$((port_base + 3)) \
    SENDER_HOST=127.0.0.1 SENDER_PORT=$((port_base + 4)) \
    PUBLIC_API_BASE_URL="$gateway_url" PUBLIC_WEBHOOK_BASE_URL=http://127.0.0.1:$((port_base + 2)) \
    PLATFORM_META_EMULATOR=true META_EMULATOR_HOST=127.0.0.1 META_EMULATOR_PORT=$((port_base + 10)) \
    META_EMULATOR_ACCEPT_ANY_TOKEN=true PLATFORM_DEMO=false \
    LOG_FORMAT=text RUST_LOG=${RUST_LOG:-warn} \
    ADMIN_SIGNIN_MAX_FAILURES=1000000 \
    "$CARGO_TARGET_DIR/debug/platform" >"$work/platform.log" 2>&1 &
platform_pid=$!
for _ in $(seq 1 240); do
    curl -fsS -o /dev/null "$admin_url/ready" 2>/dev/null \
        && curl -fsS -o /dev/null "$gateway_url/health" 2>/dev/null && break
    kill -0 "$platform_pid" 2>/dev/null || { cat "$work/platform.log"; services_die "the platform stopped"; }
    sleep 0.5
done

# JSON field $2 of the JSON $1.
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
call() { # method path token [body]
    curl -fsS -X "$1" "$admin_url$2" -H "Authorization: Bearer $3" \
        -H 'content-type: application/json' ${4:+-d "$4"}
}

services_log "seeding a throwaway account, a published bot and an API integration"
account=$(call POST /v1/accounts "$bootstrap" '{"name": "schemathesis"}')
token=$(field "$account" token)
bot=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); b["name"]="Fuzzed"; print(json.dumps(b))' \
    "$repo/examples/demo-bot.json")
bot_id=$(field "$(call POST /v1/bots "$token" "$bot")" id)
call POST "/v1/bots/$bot_id/publish" "$token" >/dev/null
integration=$(call POST /v1/integrations "$token" \
    "{\"kind\": \"api\", \"bot_id\": $bot_id, \"variable_injection\": true, \"rate_limit_per_minute\": 1000000}")
integration_id=$(field "$integration" id)
api_key=$(field "$integration" api_key)
call POST "/v1/integrations/$integration_id/activate" "$token" >/dev/null

# Narrow exclusions, each with its reason:
# - generation.allow-x00 = false: every string the documents declare carries a pattern without
#   U+0000, but free-form JSON (a bot's flow) cannot say so without a recursive schema; NUL is
#   refused with 422 naming the field, which tests/tests/hostile_input.rs checks everywhere.
# - GET /v1/bots is fuzzed with valid data only: its one parameter, `published`, is optional,
#   and schemathesis reports its "wrong type" values that a query string cannot carry (it then
#   sends no parameter at all) as a schema-invalid request accepted.
# - negative_data_rejection also takes 413: a schema-invalid body can be invalid by being
#   over the byte limit (10,000 items of an array), and 413 is its refusal.
# - positive_data_acceptance also takes 422 on the operations whose outcome depends on other
#   objects (a bot that must exist and be published, an integration of the right kind, a
#   draft flow that must validate before it is published, variables the bot must declare, an
#   option the conversation's current component offers): no schema can say which exist or what
#   they hold. The same for starting a Test Runner run and saving a scenario: a scenario is YAML
#   text, checked after parsing against proto/test-runner/scenario.schema.json and against the
#   bot it runs on, and a run's `scenario_ids` must name scenarios the bot has saved.
cat >"$work/schemathesis.toml" <<TOML
[generation]
allow-x00 = false

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

[[operations]]
include-path-regex = "^/v1/integrations|^/v1/bots/.*/publish\$|^/v1/bots/.*/test-runs\$|^/v1/bots/.*/scenarios|^/api/integrations/api/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-path = "/v1/bots"
include-method = "GET"
generation.mode = "positive"
checks.negative_data_rejection.enabled = false
TOML

seed_args=()
[ -n "${SCHEMATHESIS_SEED:-}" ] && seed_args=(--seed "$SCHEMATHESIS_SEED")
status=0
run() { # label url header...
    local label=$1 url=$2
    shift 2
    services_log "schemathesis: $label ($url)"
    # From the scratch directory: schemathesis keeps a cache of failures in `.schemathesis/`.
    (cd "$work" && "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$url" \
        --checks all --max-examples "$max_examples" --workers 1 \
        --request-timeout 15 --no-color "${seed_args[@]}" "$@") || status=1
}
started=$SECONDS
run admin "$admin_url/openapi.json" -H "Authorization: Bearer $token"
cat >>"$work/schemathesis.toml" <<TOML

[parameters]
"path.integration_id" = $integration_id
TOML
run "API gateway" "$gateway_url/openapi.json" -H "X-API-Key: $api_key"
services_log "schemathesis finished in $((SECONDS - started)) s"
if [ "$status" -ne 0 ]; then
    echo "--- errors in the platform's log" >&2
    grep -a -E 'ERROR|panicked' "$work/platform.log" >&2 || echo "(none)" >&2
fi
exit "$status"
