"""The store contract's trust parts, on both backends: the chained audit log and in-place redaction.

Users and API keys are plain tables (a change appends a new version), covered by the generic contract
tests of test_contract.py like every table of tables.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pandas as pd
import pytest

from risk.store.base import GENESIS, Store, StoreError, audit_hash


def entries(n: int, actor: str = "cli:test") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "actor": [actor] * n,
            "action": ["user.create"] * n,
            "target": [f"user-{i}" for i in range(n)],
            "outcome": "ok",
            "ip": None,
            "detail": [f'{{"i": {i}, "tên": "Nguyễn"}}' for i in range(n)],
        }
    )


def assert_chain(log: pd.DataFrame, head: tuple[int, str]) -> None:
    log = log.sort_values("seq").reset_index(drop=True)
    assert log["seq"].tolist() == list(range(1, len(log) + 1))
    prev = GENESIS
    for row in log.to_dict("records"):
        assert row["prev_hash"] == prev
        assert row["hash"] == audit_hash(prev, row)
        prev = row["hash"]
    assert head == (len(log), prev)


def test_audit_entries_are_numbered_and_chained_across_stores(
    store: Store, open_store: Callable[[], Store]
) -> None:
    assert store.audit_head() == (0, GENESIS)
    first = store.append_audit(entries(3))
    assert first["seq"].tolist() == [1, 2, 3] and first["prev_hash"].iloc[0] == GENESIS
    other = open_store()  # like another process
    second = other.append_audit(entries(2, actor="key:abc"))
    assert second["seq"].tolist() == [4, 5]
    assert second["prev_hash"].iloc[0] == first["hash"].iloc[2]
    assert store.append_audit(entries(0)).empty
    log = store.read_table("audit_log")
    assert_chain(log, store.audit_head())
    assert (log.sort_values("seq")["at"].diff().dropna() >= pd.Timedelta(0)).all()


def test_concurrent_appenders_never_fork_the_chain(store: Store, open_store: Callable[[], Store]) -> None:
    stores = [open_store() for _ in range(4)]
    errors: list[BaseException] = []

    def work(s: Store, k: int) -> None:
        try:
            for _ in range(5):
                s.append_audit(entries(2, actor=f"t{k}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, k)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_chain(store.read_table("audit_log"), store.audit_head())
    assert store.count("audit_log") == 40


def test_an_edited_entry_breaks_the_chain(store: Store) -> None:
    store.append_audit(entries(4))
    log = store.read_table("audit_log").sort_values("seq").reset_index(drop=True)
    log.loc[1, "actor"] = "someone-else"
    row = log.iloc[1].to_dict()
    assert audit_hash(row["prev_hash"], row) != row["hash"]


def test_redact_rows_nulls_only_the_matching_rows(store: Store) -> None:
    store.append_audit(entries(3))
    store.write_tables({"users": users(4)})
    n = store.redact_rows("users", [("version", "<", 3)], ["name", "roles"])
    assert n == 2
    got = store.read_table("users").sort_values("version").reset_index(drop=True)
    assert got["name"].isna().tolist() == [True, True, False, False]
    assert got["roles"].isna().tolist() == [True, True, False, False]
    assert got["user_id"].tolist() == ["u"] * 4  # other columns untouched
    assert store.redact_rows("users", [("version", ">", 99)], ["name"]) == 0
    with pytest.raises(StoreError, match="no columns"):
        store.redact_rows("users", [], ["nope"])
    assert store.count("audit_log") == 3  # other tables untouched


def test_delete_rows_deletes_only_the_matching_rows(store: Store) -> None:
    store.write_tables({"users": users(5)})
    store.write_tables({"users": users(2, first=10)})
    assert store.delete_rows("users", [("version", "in", [2, 3, 11])]) == 3
    assert sorted(store.read_table("users")["version"].tolist()) == [1, 4, 5, 10]
    assert store.count("users") == 4
    with pytest.raises(StoreError, match="at least one filter"):
        store.delete_rows("users", [])
    assert store.delete_rows("users", [("version", "=", 1)]) == 1
    assert store.delete_rows("users", [("version", ">=", 0)]) == 3
    assert store.count("users") == 0


def users(n: int, first: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": "u",
            "version": range(first, first + n),
            "name": [f"Người {i}" for i in range(n)],
            "roles": "ward_leader",
            "active": True,
            "changed_at": pd.Timestamp("2021-10-01", tz="UTC"),
        }
    )
