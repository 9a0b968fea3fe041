#!/usr/bin/env bash
# The operator console (console/): build it, or run its browser tests.
#
#   scripts/console.sh build   npm ci when the lock file changed, vite build when a source did
#   scripts/console.sh test    build, the unit tests (vitest), then the browser tests in headless
#                              Chromium against a platform they start (installs Debian's
#                              chromium when missing)
#
# scripts/dev.sh runs `build`; scripts/test.sh and .ci/run run `test`. Each phase prints its
# time. The admin service serves console/dist at /console/ (docs/console.md).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"
console="$repo/console"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/botplatform/target}

timed() {
    local label=$1 started=$SECONDS
    shift
    "$@"
    services_log "$label: $((SECONDS - started))s"
}

# A digest of the files named, to skip work that their contents would not change.
digest_of() { (cd "$console" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }

require_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
        services_die "Node.js 20+ and npm are needed to build the console (console/README.md)"
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 20 ] || services_die "Node.js $major found; the console needs 20 or newer"
}

install_packages() {
    local stamp="$console/node_modules/.lock-digest" want
    want=$(digest_of package-lock.json)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        (cd "$console" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$stamp"
    else
        services_log "console: node_modules match package-lock.json"
    fi
}

build_console() {
    local stamp="$console/dist/.source-digest" want
    want=$(cd "$console" && { digest_of src index.html package.json package-lock.json tsconfig.json vite.config.ts; sha256sum ../docs/openapi/admin.json; } | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -f "$console/dist/index.html" ]; then
        (cd "$console" && npm run --silent build)
        echo "$want" >"$stamp"
        # A release admin embeds dist when it is compiled, and cargo sees neither a dist that
        # appeared since nor files it never embedded: an admin built before the console kept
        # serving 404 at /console/. Touching the embedding module makes the next build embed
        # this dist.
        touch "$repo/services/admin/src/console.rs"
    else
        services_log "console: dist is up to date"
    fi
}

ensure_chromium() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    # Without a colour emoji font, emoji (the demo bot's 🍕) are boxes in the screenshots.
    [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
    if [ ${#missing[@]} -gt 0 ]; then
        services_log "installing Debian's ${missing[*]} for the browser tests"
        services_as_root apt-get update -qq
        services_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    /usr/bin/chromium --version
}

case "${1:-}" in
    build)
        require_node
        timed "console: npm ci" install_packages
        timed "console: build" build_console
        ;;
    test)
        require_node
        timed "console: chromium" ensure_chromium
        timed "console: npm ci" install_packages
        timed "console: build" build_console
        timed "console: unit tests" bash -c "cd '$console' && npx --no-install vitest run"
        services_log "checking PostgreSQL and RabbitMQ"
        ensure_services
        # Every binary, as scripts/dev.sh builds them (same features: nothing recompiles).
        timed "console: cargo build (platform)" bash -c "cd '$repo' && cargo build --workspace --bins"
        export PLATFORM_BIN="$CARGO_TARGET_DIR/debug/platform"
        timed "console: browser tests" bash -c "cd '$console' && npm run --silent test:browser"
        ;;
    *)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 2
        ;;
esac
