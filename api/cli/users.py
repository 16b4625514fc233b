"""`riskmap users …`: people who use riskmap, their roles, and the admin units they may view and capture
data for (each unit covers everything below it). Every change is recorded in the audit log."""

from __future__ import annotations

import json
from dataclasses import replace

import typer

from api import audit
from api.auth.directory import Directory, User, check_roles, cli_actor, save_user, units_of
from api.auth.scopes import ScopeResolver
from api.cli.common import clean_errors, console, fail, get_store
from api.security import ROLES
from risk.store import Store

ROLE_HELP = f"role (repeat for several): {', '.join(ROLES)}"


def _check_units(store: Store, units: tuple[str, ...]) -> None:
    unknown = ScopeResolver.from_store(store).unknown(units)
    if unknown:
        fail(
            f"unknown admin unit(s) {unknown}: give ids like hcmc-2025:26740 (a ward), hcmc-2025:79 (the city) "
            "or a neighbourhood group id from the groups table"
        )


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Create, list and change users (roles, viewing and capture units).", no_args_is_help=True
    )

    @group.command("create")
    def create(
        user_id: str = typer.Argument(..., help="a stable id, e.g. an email or the identity provider's sub"),
        name: str = typer.Option("", "--name", help="display name"),
        role: list[str] = typer.Option(..., "--role", "-r", help=ROLE_HELP),
        view_unit: list[str] = typer.Option([], "--view-unit", help="unit whose households they may view"),
        view_all: bool = typer.Option(False, "--view-all", help="may view every area"),
        capture_unit: list[str] = typer.Option([], "--capture-unit", help="unit they may capture data for"),
        capture_all: bool = typer.Option(False, "--capture-all", help="may capture data for every area"),
    ) -> None:
        """Create a user."""
        with clean_errors():
            store = get_store()
            if user_id in Directory.load(store).users:
                fail(f"user {user_id!r} exists; change it with `riskmap users set`")
            user = User(
                user_id=user_id,
                version=0,
                name=name,
                roles=check_roles(role),
                view_units=units_of(view_unit, view_all),
                capture_units=units_of(capture_unit, capture_all),
            )
            _check_units(store, user.view_units + user.capture_units)
            actor = cli_actor()
            saved = save_user(store, user, actor)
            audit.append(store, actor, "user.create", user_id, detail=saved.public())
            console.print(
                f"user {user_id} created: roles {list(saved.roles)}, views {list(saved.view_units)}"
            )

    @group.command("set")
    def set_(
        user_id: str = typer.Argument(...),
        name: str | None = typer.Option(None, "--name"),
        role: list[str] = typer.Option([], "--role", "-r", help=f"replaces the roles; {ROLE_HELP}"),
        view_unit: list[str] = typer.Option([], "--view-unit", help="replaces the viewing units"),
        view_all: bool = typer.Option(False, "--view-all"),
        no_view: bool = typer.Option(False, "--no-view", help="remove every viewing unit"),
        capture_unit: list[str] = typer.Option([], "--capture-unit", help="replaces the capture units"),
        capture_all: bool = typer.Option(False, "--capture-all"),
        no_capture: bool = typer.Option(False, "--no-capture", help="remove every capture unit"),
        active: bool | None = typer.Option(None, "--active/--disabled", help="enable or disable the user"),
    ) -> None:
        """Change a user's roles, units, name or status (options not given stay as they are)."""
        with clean_errors():
            store = get_store()
            old = Directory.load(store).users.get(user_id)
            if old is None:
                fail(f"no user {user_id!r}")
            assert old is not None
            new = replace(
                old,
                name=old.name if name is None else name,
                roles=check_roles(role) if role else old.roles,
                view_units=()
                if no_view
                else (units_of(view_unit, view_all) if (view_unit or view_all) else old.view_units),
                capture_units=()
                if no_capture
                else (
                    units_of(capture_unit, capture_all)
                    if (capture_unit or capture_all)
                    else old.capture_units
                ),
                active=old.active if active is None else active,
            )
            _check_units(store, new.view_units + new.capture_units)
            actor = cli_actor()
            saved = save_user(store, new, actor)
            audit.append(
                store, actor, "user.change", user_id, detail={"before": old.public(), "after": saved.public()}
            )
            console.print(f"user {user_id} changed (version {saved.version})")

    @group.command("list")
    def list_(as_json: bool = typer.Option(False, "--json", help="JSON lines")) -> None:
        """Every user with roles and units."""
        with clean_errors():
            users = sorted(Directory.load(get_store()).users.values(), key=lambda u: u.user_id)
            for u in users:
                if as_json:
                    typer.echo(json.dumps(u.public(), ensure_ascii=False))
                else:
                    state = "" if u.active else " [disabled]"
                    typer.echo(
                        f"{u.user_id}{state}  roles={','.join(u.roles)}  view={','.join(u.view_units) or '-'}  "
                        f"capture={','.join(u.capture_units) or '-'}  {u.name}"
                    )

    app.add_typer(group, name="users")
