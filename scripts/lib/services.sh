# shellcheck shell=bash
# Shared by scripts/dev.sh, scripts/test.sh and .ci/run: makes sure the local PostgreSQL and
# RabbitMQ that the platform and its tests use are running, with the RabbitMQ plugins enabled.
# Source it; it defines functions and changes no shell options.
#
# It starts Debian's packaged servers (as this machine kind has them installed); it installs
# nothing. Without them, install postgresql and rabbitmq-server, or point DATABASE_URL /
# AMQP_URL (and TEST_DATABASE_URL / RABBITMQ_* for the tests) at servers of your own.

SERVICES_PG_HOST=${SERVICES_PG_HOST:-127.0.0.1}
SERVICES_PG_PORT=${SERVICES_PG_PORT:-5432}
SERVICES_AMQP_PORT=${SERVICES_AMQP_PORT:-5672}
SERVICES_RABBIT_MANAGEMENT_PORT=${SERVICES_RABBIT_MANAGEMENT_PORT:-15672}
SERVICES_RABBIT_PLUGINS=(rabbitmq_management)

services_log() { printf '==> %s\n' "$*" >&2; }
services_die() { printf 'error: %s\n' "$*" >&2; return 1; }

# Runs a command as root: directly when we are root, through passwordless sudo otherwise.
services_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        services_die "'$*' needs root (no passwordless sudo here)"
    fi
}

# True when something accepts TCP connections on host:port.
services_port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# Waits up to $3 seconds for host:port to accept connections.
services_wait_for_port() {
    local host=$1 port=$2 seconds=$3 what=$4 waited=0
    until services_port_open "$host" "$port"; do
        if [ "$waited" -ge "$seconds" ]; then
            services_die "$what did not open $host:$port within ${seconds}s"
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

ensure_postgres() {
    if services_port_open "$SERVICES_PG_HOST" "$SERVICES_PG_PORT"; then
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /etc/postgresql ]; then
        services_die "PostgreSQL is not running on $SERVICES_PG_HOST:$SERVICES_PG_PORT and is not installed (apt-get install postgresql)"
        return 1
    fi
    local version
    for version in /etc/postgresql/*/; do
        version=$(basename "$version")
        services_log "starting PostgreSQL $version"
        services_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
    done
    services_wait_for_port "$SERVICES_PG_HOST" "$SERVICES_PG_PORT" 60 PostgreSQL
}

ensure_rabbitmq() {
    if ! services_port_open 127.0.0.1 "$SERVICES_AMQP_PORT"; then
        if ! command -v rabbitmq-server >/dev/null 2>&1; then
            services_die "RabbitMQ is not running on port $SERVICES_AMQP_PORT and is not installed (apt-get install rabbitmq-server)"
            return 1
        fi
        services_log "starting RabbitMQ"
        services_as_root rabbitmq-server -detached || return 1
        # The node takes a few seconds to boot; await_startup needs it reachable first.
        services_wait_for_port 127.0.0.1 "$SERVICES_AMQP_PORT" 120 RabbitMQ || return 1
        services_as_root rabbitmqctl -q await_startup --timeout 60 >/dev/null || return 1
    fi
    services_enable_rabbit_plugins || return 1
    services_wait_for_port 127.0.0.1 "$SERVICES_RABBIT_MANAGEMENT_PORT" 60 "RabbitMQ management"
}

# Enabling is idempotent but each rabbitmq-plugins call boots an Erlang VM (about 2 s), so the
# enabled_plugins file is read first and the call made only when a plugin is missing.
services_enable_rabbit_plugins() {
    local file=${RABBITMQ_ENABLED_PLUGINS_FILE:-/etc/rabbitmq/enabled_plugins} plugin missing=()
    for plugin in "${SERVICES_RABBIT_PLUGINS[@]}"; do
        if ! grep -qw "$plugin" "$file" 2>/dev/null; then
            missing+=("$plugin")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    services_log "enabling RabbitMQ plugins: ${missing[*]}"
    services_as_root rabbitmq-plugins -q enable "${SERVICES_RABBIT_PLUGINS[@]}" >/dev/null
}

services_psql() {
    psql -h "$SERVICES_PG_HOST" -p "$SERVICES_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

# True when database $1 exists on the local server.
database_exists() {
    local found
    found=$(services_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'") || return 2
    [ "$found" = 1 ]
}

# Creates database $1 on the local server unless it exists.
ensure_database() {
    local status=0
    database_exists "$1" || status=$?
    case $status in
        0) return 0 ;;
        1) services_log "creating database $1"
           services_psql -q -c "CREATE DATABASE \"$1\"" ;;
        *) services_die "cannot query PostgreSQL as user postgres on $SERVICES_PG_HOST:$SERVICES_PG_PORT" ;;
    esac
}

# Drops database $1 (closing its connections) if it exists.
drop_database() {
    services_log "dropping database $1"
    services_psql -q -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
}

# Everything the platform and the test suite need.
ensure_services() {
    ensure_postgres || return 1
    ensure_rabbitmq || return 1
}
