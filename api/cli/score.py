"""`riskmap score`, `riskmap backfill`, `riskmap diff`, `riskmap history`, `riskmap model …`: levels from
the city down to the household, written as immutable snapshots; their history; the risk model."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from api.cli.common import clean_errors, console, fail, get_store, progress

DATE = ["%Y-%m-%d"]


def _types(units: str | None) -> list[str] | None:
    if not units:
        return None
    return [u.strip() for u in units.split(",") if u.strip()]


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score(
        as_of: dt.datetime = typer.Option(..., "--as-of", formats=DATE, help="date the levels speak for"),
        profile: str = typer.Option(
            "moh-4800", "--profile", "-p", help="official profile: moh-4800, moh-218 or nsc-2686"
        ),
        units: str = typer.Option(
            "",
            "--units",
            help="unit types to score, comma-separated (default all: city,district,ward,group,h3_8,h3_9,h3_10,household)",
        ),
        inputs: Path = typer.Option(
            None,
            "--inputs",
            help="CSV of unit inputs (capacity, oxygen, deaths…); default RISKMAP_SCORE_INPUTS",
        ),
        publish: bool = typer.Option(
            True, "--publish/--no-publish", help="make the snapshot the current one"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the snapshot's figures as JSON"),
    ) -> None:
        """Score every unit at a date and write a snapshot (published unless --no-publish).

        Windows of 7 and 14 days end on the as-of date; raised official levels are held for the profile's
        notice (48 hours under Resolution 128) against the previous snapshot of the same profile.
        """
        from risk.score import build_config
        from risk.score import score as run_score

        with clean_errors():
            store = get_store()
            try:
                config = build_config(
                    profile,
                    unit_types=_types(units),
                    inputs_path=str(inputs) if inputs else None,
                    store=store,
                )
            except KeyError as exc:
                fail(str(exc.args[0]))
            with console.status(f"scoring as of {as_of:%Y-%m-%d} with {profile}"):
                result = run_score(store, as_of.date(), profile, publish=publish, config=config)
            if not config.profile.valid_on(as_of.date()):
                console.print(
                    f"[yellow]note:[/yellow] {profile} was in force {config.profile.valid_from} … "
                    f"{config.profile.valid_to or 'today'}; applied to {as_of:%Y-%m-%d} retroactively"
                )
            console.print(result.summary())
            if as_json:
                s = result.snapshot
                typer.echo(
                    json.dumps(
                        {"snapshot_id": s.snapshot_id, "timings_s": result.timings, **dict(s.stats)},
                        ensure_ascii=False,
                        default=str,
                    )
                )

    @app.command("backfill")
    def backfill(
        start: dt.datetime = typer.Option(..., "--from", formats=DATE, help="first as-of date"),
        end: dt.datetime = typer.Option(..., "--to", formats=DATE, help="last as-of date (inclusive)"),
        every: int = typer.Option(7, "--every", min=1, help="days between snapshots"),
        profile: str = typer.Option("moh-4800", "--profile", "-p"),
        units: str = typer.Option("", "--units", help="unit types (default all)"),
        publish: bool = typer.Option(True, "--publish/--no-publish", help="publish the last snapshot"),
    ) -> None:
        """Score a range of dates into history (weekly by default), reading the store once."""
        from risk.score import backfill as run_backfill

        with clean_errors():
            store = get_store()
            days = (end.date() - start.date()).days // every + 1
            with progress() as bar:
                task = bar.add_task(f"backfilling {profile}", total=days)

                def tick(day: dt.date, res: object) -> None:
                    bar.update(task, advance=1, description=f"{profile} as of {day}")

                snaps = run_backfill(
                    store,
                    start.date(),
                    end.date(),
                    every_days=every,
                    profile_id=profile,
                    unit_types=_types(units),
                    publish_last=publish,
                    progress=tick,
                )
            for s in snaps:
                wards = s.stats.get("wards_per_level", {})
                console.print(
                    f"snapshot {s.snapshot_id} as of {s.as_of:%Y-%m-%d}: wards per level "
                    f"{dict(sorted(wards.items()))}, {s.stats.get('pending_raises', 0)} raise(s) pending"
                )

    @app.command("diff")
    def diff(
        a: int = typer.Argument(..., help="earlier snapshot id"),
        b: int = typer.Argument(..., help="later snapshot id"),
        unit_type: str = typer.Option("", "--units", help="only these unit types (comma-separated)"),
        households: bool = typer.Option(False, "--households", help="also households whose level changed"),
        limit: int = typer.Option(50, "--limit", help="rows to print (0: all)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON lines instead of a table"),
    ) -> None:
        """Units whose level rose or fell from snapshot A to snapshot B (raises pending notice shown)."""
        from rich.table import Table

        from risk.score import diff_snapshots

        with clean_errors():
            store = get_store()
            out = diff_snapshots(store, a, b, households=households)
            types = _types(unit_type)
            if types:
                out = out[out["unit_type"].isin(types)]
            counts = out.groupby(["unit_type", "change"]).size()
            if as_json:
                for r in out.to_dict(orient="records"):
                    typer.echo(json.dumps(r, ensure_ascii=False, default=str))
                return
            console.print(f"snapshot {a} → {b}: {len(out)} unit(s) changed level")
            for (t, ch), n in counts.items():
                console.print(f"  {t}: {n} {ch}")
            table = Table("unit type", "unit", "name", "level A", "level B", "change", "pending", "effective")
            shown = out if limit == 0 else out.head(limit)
            for r in shown.itertuples(index=False):
                table.add_row(
                    r.unit_type,
                    str(r.unit_id),
                    str(r.name) if r.name == r.name else "",
                    _lv(r.level_a),
                    _lv(r.level_b),
                    r.change,
                    _lv(getattr(r, "pending_level", None)),
                    str(getattr(r, "pending_effective_at", "") or ""),
                )
            console.print(table)

    @app.command("history")
    def history(as_json: bool = typer.Option(False, "--json")) -> None:
        """Every snapshot: id, as-of date, profile, full or delta, and the current one."""
        with clean_errors():
            store = get_store()
            cur = store.current_snapshot()
            for s in store.list_snapshots():
                kind = f"delta of {s.parent_id}" if s.stats.get("delta") else "full"
                mark = " (current)" if cur and cur.snapshot_id == s.snapshot_id else ""
                if as_json:
                    typer.echo(
                        json.dumps(
                            {
                                "snapshot_id": s.snapshot_id,
                                "as_of": s.as_of.isoformat(),
                                "profile": s.profile,
                                "version": s.profile_version,
                                "kind": kind,
                                "current": bool(mark),
                            }
                        )
                    )
                else:
                    console.print(
                        f"{s.snapshot_id:>6}  {s.as_of:%Y-%m-%d}  {s.profile} {s.profile_version}  {kind}{mark}"
                    )

    model = typer.Typer(help="Train, backtest and list the risk model (probability of a new case in 7 days).")

    @model.command("train")
    def train(
        start: dt.datetime = typer.Option(..., "--from", formats=DATE, help="first weekly as-of date"),
        end: dt.datetime = typer.Option(
            ..., "--to", formats=DATE, help="last as-of date whose 7 days are known"
        ),
        sample: int = typer.Option(0, "--sample-households", help="train on a random sample (0: all)"),
        backtest_first: bool = typer.Option(
            True, "--backtest/--no-backtest", help="run the time-split backtest and keep its figures"
        ),
    ) -> None:
        """Train the household and cell models on weekly dates, calibrate, and add them to the store."""
        from risk.model import save_models
        from risk.model.train import backtest, collect, train_final, weekly_days
        from risk.score import build_config, read_geography
        from risk.score.inputs import read_inputs

        with clean_errors():
            store = get_store()
            days = weekly_days(start.date(), end.date())
            config = build_config("moh-4800", models=None)
            data = _collect(store, config, days, sample, collect, read_geography, read_inputs)
            results = backtest(data, days) if backtest_first else {}
            for bt in results.values():
                _print_backtest(bt)
            models = train_final(data, days)
            for kind, m in models.items():
                if kind in results:
                    m.metrics = results[kind].model.metrics
            saved = save_models(store, models)
            console.print(f"models saved as version {saved.version}: {', '.join(saved.ids.values())}")

    @model.command("backtest")
    def backtest_cmd(
        start: dt.datetime = typer.Option(..., "--from", formats=DATE),
        end: dt.datetime = typer.Option(..., "--to", formats=DATE),
        sample: int = typer.Option(0, "--sample-households"),
        test_weeks: int = typer.Option(0, "--test-weeks", help="weeks held out at the end (0: a third)"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Time-split backtest: model vs rules-only and 'cases last week' on PR-AUC; calibration."""
        from risk.model.train import backtest, collect, weekly_days
        from risk.score import build_config, read_geography
        from risk.score.inputs import read_inputs

        with clean_errors():
            store = get_store()
            days = weekly_days(start.date(), end.date())
            config = build_config("moh-4800", models=None)
            data = _collect(store, config, days, sample, collect, read_geography, read_inputs)
            results = backtest(data, days, test_weeks=test_weeks or None)
            for bt in results.values():
                _print_backtest(bt)
            if as_json:
                typer.echo(
                    json.dumps({k: {**v.result, "split": v.split} for k, v in results.items()}, default=str)
                )

    @model.command("list")
    def list_cmd() -> None:
        """Trained models in the store, newest first."""
        from risk.model import list_models

        with clean_errors():
            reg = list_models(get_store())
            if not len(reg):
                console.print("no model trained yet: riskmap model train --from … --to …")
            for r in reg.itertuples(index=False):
                m = json.loads(r.metrics or "{}").get("backtest", {}).get("pr_auc", {})
                console.print(
                    f"{r.model_id}  trained {r.trained_at:%Y-%m-%d %H:%M}  on {r.train_from:%Y-%m-%d} … {r.train_to:%Y-%m-%d}  PR-AUC {m}"
                )

    app.add_typer(model, name="model")


def _lv(v: object) -> str:
    try:
        return "" if v is None or v != v else str(int(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _collect(store, config, days, sample, collect, read_geography, read_inputs):  # type: ignore[no-untyped-def]
    geo = read_geography(store)
    inputs = read_inputs(store)
    with progress() as bar:
        task = bar.add_task("features and labels", total=len(days))
        data = collect(
            inputs,
            geo,
            config,
            days,
            sample_households=sample or None,
            progress=lambda d: bar.update(task, advance=1, description=f"week of {d}"),
        )
    return data


def _print_backtest(bt) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    r = bt.result
    console.rule(f"{bt.kind} model backtest")
    console.print(
        f"train {bt.split['train']}; calibrate {bt.split['calibrate']}; test {bt.split['test']}: "
        f"{r['rows']} rows, {r['positives']} with a new case (base rate {r['base_rate']:.4f})"
    )
    t = Table("ranking", "PR-AUC", "ROC-AUC")
    for k in ("model", "rules", "cases_last_week"):
        t.add_row(k, f"{r['pr_auc'][k]:.4f}", f"{r['roc_auc'][k]:.4f}")
    console.print(t)
    console.print(
        f"Brier score {r['brier']['model']:.5f} (base-rate forecast {r['brier']['base_rate_forecast']:.5f}); "
        f"beats both baselines on PR-AUC: {r['beats_baselines']}"
    )
    rel = Table("bin", "rows", "mean predicted", "observed", title="reliability (deciles of the prediction)")
    for row in r["reliability"]:
        rel.add_row(
            str(row["bin"]), str(row["rows"]), f"{row['mean_predicted']:.4f}", f"{row['observed']:.4f}"
        )
    console.print(rel)
