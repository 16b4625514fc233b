# shellcheck shell=bash
# Helpers shared by scripts/*.sh (sourced, never run). Every path is relative to the repository, so a
# clone anywhere sets itself up without touching another clone's venv, assets or database cluster.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
# Bumped when the meaning of a stamp changes, so old stamps stop matching.
STAMP_VERSION=1

step() { printf '\n==> %s\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run a command as root: directly when we are root, else through sudo (which may ask for a password).
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' and sudo is not installed: run it as root, then run this script again"
    fi
}

deb_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# Install the Debian packages among "$@" that are missing; no apt at all when every one is present.
ensure_debs() {
    local missing=() pkg
    for pkg in "$@"; do
        deb_installed "$pkg" || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        info "present: $*"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages (${missing[*]}) and no apt-get here: install them by hand"
    info "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The Python that creates the venv: $RISKMAP_PYTHON, else python3; must be 3.11 or newer.
find_python() {
    local py="${RISKMAP_PYTHON:-python3}"
    command -v "$py" >/dev/null 2>&1 || die "no '$py' on PATH: install Python 3.11 (apt-get install python3)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$("$py" --version 2>&1) is too old: riskmap needs Python >= 3.11 (set RISKMAP_PYTHON)"
    printf '%s\n' "$py"
}

venv_works() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1
}

# Create .venv and `pip install -e .[EXTRAS]`, only when pyproject.toml changed since the last install
# (a stamp in the venv holds its hash and the extras installed). EXTRAS is "" or e.g. "dev".
ensure_venv() {
    local extras="$1" py stamp hash target
    stamp="$VENV/.riskmap-install-stamp"
    hash="$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -d' ' -f1)"
    if venv_works && [[ -f "$stamp" ]]; then
        local old_version old_hash old_extras
        read -r old_version old_hash old_extras <"$stamp" || true
        # An install with extras also satisfies a plain one.
        if [[ "$old_version" == "$STAMP_VERSION" && "$old_hash" == "$hash" &&
            (-z "$extras" || "${old_extras:-}" == "$extras") ]]; then
            info "up to date (pyproject.toml unchanged since the last install): $VENV"
            return 0
        fi
    fi
    if ! venv_works; then
        py="$(find_python)"
        if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            # Debian's own python3 ships venv/ensurepip in a separate package.
            [[ "$(command -v "$py")" == /usr/bin/* ]] ||
                die "$py has no venv/ensurepip module: use a Python with them (set RISKMAP_PYTHON)"
            ensure_debs python3-venv
        fi
        info "creating $VENV with $("$py" --version 2>&1)"
        rm -rf "$VENV"
        "$py" -m venv "$VENV"
    fi
    target="."
    [[ -n "$extras" ]] && target=".[$extras]"
    info "pip install -e '$target' (first install, or pyproject.toml or the extras changed)"
    rm -f "$stamp"
    (cd "$REPO_ROOT" && "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$target")
    printf '%s %s %s\n' "$STAMP_VERSION" "$hash" "$extras" >"$stamp"
}

# Node.js and npm for the front-end assets: Debian's packages when npm is missing.
ensure_node() {
    if command -v npm >/dev/null 2>&1; then
        info "present: node $(node --version 2>/dev/null || echo '?'), npm $(npm --version 2>/dev/null || echo '?')"
    else
        ensure_debs nodejs npm
    fi
}

# `npm ci` into node_modules/ (Leaflet, MapLibre GL), only when package-lock.json changed since the
# last one or the files are gone. The app serves them itself (api/assets.py); nothing comes from a CDN.
ensure_assets() {
    local stamp="$REPO_ROOT/node_modules/.riskmap-assets-stamp" hash
    hash="$STAMP_VERSION $(sha256sum "$REPO_ROOT/package-lock.json" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" &&
        -f "$REPO_ROOT/node_modules/leaflet/dist/leaflet.js" &&
        -f "$REPO_ROOT/node_modules/maplibre-gl/dist/maplibre-gl.js" ]]; then
        info "up to date (package-lock.json unchanged since the last npm ci): node_modules/"
    else
        ensure_node
        info "npm ci (package-lock.json changed or first install)"
        (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
        printf '%s\n' "$hash" >"$stamp"
    fi
    # The app's own view of them: fails with a clear message if a file it serves is missing.
    if venv_works; then
        (cd "$REPO_ROOT" && "$VENV/bin/python" -c \
            'from api.assets import vendor_dirs; print("    served: " + ", ".join(vendor_dirs()))') >&2
    fi
}
