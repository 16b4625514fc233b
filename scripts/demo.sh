#!/usr/bin/env bash
# Set up what the demo needs, then run it: `riskmap demo` builds the synthetic city, ingests its feeds,
# scores it and serves the API and map on http://127.0.0.1:8000 on the embedded store (no server needed).
#
#   bash scripts/demo.sh [riskmap demo options]   set up, then exec `riskmap demo "$@"`
#   bash scripts/demo.sh --setup-only             set up (venv, assets) and stop
#   bash scripts/demo.sh --assets                 only the front-end assets (npm ci into node_modules/)
#
# Set-up: .venv with `pip install -e .` (redone only when pyproject.toml changes) and the front-end
# assets with `npm ci` (redone only when package-lock.json changes). Needs Python >= 3.11; Node.js/npm
# and python3-venv come from Debian's packages (with sudo when not root) if missing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

case "${1:-}" in
--assets)
    step "Front-end assets (npm ci)"
    ensure_assets
    exit 0
    ;;
-h | --help)
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

step "1/2 Python environment (.venv, pip install -e .)"
ensure_venv ""

step "2/2 Front-end assets (npm ci)"
ensure_assets

if [[ "${1:-}" == --setup-only ]]; then
    step "set-up done: run the demo with: bash scripts/demo.sh  (or .venv/bin/riskmap demo)"
    exit 0
fi

step "riskmap demo $*"
exec "$VENV/bin/riskmap" demo "$@"
