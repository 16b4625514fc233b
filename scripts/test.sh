#!/usr/bin/env bash
# Run riskmap's whole test suite, installing and starting what it needs first:
#   1. Debian packages: PostgreSQL 15 + PostGIS, Chromium + ChromeDriver, wrk (and Node.js/npm if npm is
#      missing); apt is skipped entirely when all are present.
#   2. .venv with `pip install -e '.[dev]'`, redone only when pyproject.toml changes.
#   3. Front-end assets with `npm ci`, redone only when package-lock.json changes.
#   4. The private PostgreSQL cluster (scripts/pg.sh start: own data directory under var/, own port,
#      database riskmap_test with PostGIS); reused when it exists or already runs.
#   5. `ruff check .`, then pytest with RISKMAP_TEST_PG_DSN and RISKMAP_TEST_REQUIRE=postgis,chromium, so a
#      test that cannot reach PostGIS or Chromium fails instead of skipping.
# Arguments go to pytest:  bash scripts/test.sh -k store -x
# The cluster is left running for the next run (stop it with: bash scripts/pg.sh stop), except under CI
# (CI=true), where it is stopped at the end.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

started=$SECONDS

step "1/5 Debian packages"
debs=(postgresql-15 postgresql-15-postgis-3 chromium chromium-driver wrk)
command -v npm >/dev/null 2>&1 || debs+=(nodejs npm)
ensure_debs "${debs[@]}"

step "2/5 Python environment (.venv, pip install -e '.[dev]')"
ensure_venv dev

step "3/5 Front-end assets (npm ci)"
ensure_assets

step "4/5 Private PostgreSQL 15 + PostGIS cluster"
if [[ "${CI:-}" == true ]]; then
    trap 'bash "$REPO_ROOT/scripts/pg.sh" stop >/dev/null 2>&1 || true' EXIT
fi
bash scripts/pg.sh start
RISKMAP_TEST_PG_DSN="$(bash scripts/pg.sh dsn)"
export RISKMAP_TEST_PG_DSN
export RISKMAP_TEST_REQUIRE="${RISKMAP_TEST_REQUIRE-postgis,chromium}"
info "set-up took $((SECONDS - started)) s"

step "5/5 ruff check . and pytest"
info "RISKMAP_TEST_PG_DSN=$RISKMAP_TEST_PG_DSN RISKMAP_TEST_REQUIRE=$RISKMAP_TEST_REQUIRE"
ruff_rc=0
"$VENV/bin/ruff" check . || ruff_rc=$?
# pytest runs last, so its summary line closes the output.
pytest_rc=0
"$VENV/bin/python" -m pytest "$@" || pytest_rc=$?
((ruff_rc == 0)) || warn "ruff check failed (exit $ruff_rc): see its output above pytest's"
if ((pytest_rc != 0)); then
    exit "$pytest_rc"
fi
exit "$ruff_rc"
