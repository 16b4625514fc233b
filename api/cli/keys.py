"""`riskmap keys …`: API keys for users (apps, dashboards, scripts). A key is shown once at creation;
only its scrypt hash is stored. Keys expire, can be rotated (a new key replaces the old one, after an
optional grace period) and revoked. Every change is recorded in the audit log."""

from __future__ import annotations

import json

import typer

from api import audit
from api.auth.directory import Directory, cli_actor, issue_key, revoke_key, rotate_key
from api.auth.settings import auth_settings
from api.cli.common import clean_errors, console, get_store


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Issue, list, rotate and revoke API keys.", no_args_is_help=True)

    @group.command("create")
    def create(
        user_id: str = typer.Argument(..., help="the user the key acts for"),
        label: str = typer.Option("", "--label", help="what the key is for, e.g. the app's name"),
        days: int = typer.Option(auth_settings().key_days, "--days", help="days until it expires"),
        rate: float | None = typer.Option(
            None, "--rate", help="its rate limit (requests/s); default: RISKMAP_TRUST_RATE_PER_KEY_S"
        ),
    ) -> None:
        """Issue a key; the key is printed once on stdout (store it now, it cannot be shown again)."""
        with clean_errors():
            store = get_store()
            actor = cli_actor()
            key, token = issue_key(
                store, user_id, actor, label=label, days=days, rate_per_s=rate, n=auth_settings().scrypt_n
            )
            audit.append(store, actor, "key.create", key.key_id, detail=key.public())
            console.print(f"key {key.key_id} for {user_id}, expires {key.expires_at:%Y-%m-%d}")
            typer.echo(token)

    @group.command("list")
    def list_(
        user_id: str | None = typer.Option(None, "--user", help="only this user's keys"),
        as_json: bool = typer.Option(False, "--json", help="JSON lines"),
    ) -> None:
        """Keys (never their secrets) with status: active, expired or revoked."""
        with clean_errors():
            keys = sorted(Directory.load(get_store()).keys.values(), key=lambda k: (k.user_id, k.created_at))
            for k in keys:
                if user_id and k.user_id != user_id:
                    continue
                if as_json:
                    typer.echo(json.dumps(k.public(), ensure_ascii=False))
                else:
                    exp = f"{k.expires_at:%Y-%m-%d}" if k.expires_at else "never"
                    typer.echo(f"{k.key_id}  {k.user_id}  {k.status():8}  expires {exp}  {k.label}")

    @group.command("rotate")
    def rotate(
        key_id: str = typer.Argument(...),
        grace: float = typer.Option(0.0, "--grace-seconds", help="the old key keeps working this long"),
    ) -> None:
        """Replace a key by a new one (printed once on stdout); the old one is revoked."""
        with clean_errors():
            store = get_store()
            actor = cli_actor()
            new, token = rotate_key(store, key_id, actor, grace_s=grace, n=auth_settings().scrypt_n)
            audit.append(store, actor, "key.rotate", key_id, detail={"new_key": new.key_id, "grace_s": grace})
            console.print(f"key {key_id} replaced by {new.key_id}")
            typer.echo(token)

    @group.command("revoke")
    def revoke(key_id: str = typer.Argument(...)) -> None:
        """Revoke a key now (servers stop accepting it within RISKMAP_AUTH_DIRECTORY_REFRESH_S)."""
        with clean_errors():
            store = get_store()
            actor = cli_actor()
            key = revoke_key(store, key_id, actor)
            audit.append(store, actor, "key.revoke", key_id, detail={"user_id": key.user_id})
            console.print(f"key {key_id} revoked")

    app.add_typer(group, name="keys")
