"""Id lookups of the scoring inputs: the hash-table lookup (many keys) equals Arrow's, and both refuse duplicates."""

import numpy as np
import pytest

from risk.score import inputs


@pytest.mark.parametrize("kind", ["random", "sequential"])
def test_hashed_positions_equal_plain_positions(monkeypatch, kind: str) -> None:
    rng = np.random.default_rng(3)
    keys = (
        rng.integers(1, 2**62, 5000, dtype=np.int64)
        if kind == "random"
        else np.arange(5000, dtype=np.int64)[::-1].copy()
    )
    values = np.concatenate([keys[rng.integers(0, len(keys), 20000)], [-1, 2**62 + 5]])
    plain = inputs.positions(values, keys, "persons")
    assert (keys[plain[:-2]] == values[:-2]).all() and (plain[-2:] == -1).all()
    with pytest.raises(ValueError, match="persons: ids are not unique"):
        inputs.positions(values, np.r_[keys, keys[7]], "persons")
    monkeypatch.setattr(inputs, "PARTITION_KEYS", 100)
    assert (inputs.positions(values, keys, "persons") == plain).all()
    big = np.tile(values, 3)  # past 2 × PARTITION_KEYS values: probed by threads
    assert (inputs.positions(big, keys, "persons") == np.tile(plain, 3)).all()
    for twin in (7, 4999):
        with pytest.raises(ValueError, match="persons: ids are not unique"):
            inputs.positions(values, np.r_[keys, keys[twin]], "persons")
    with pytest.raises(ValueError, match="persons: ids are not unique"):
        inputs.positions(values, np.r_[keys[:10], keys[:10], keys], "persons")


@pytest.mark.parametrize("sparse", [False, True])
def test_records_map_to_their_persons_with_dense_or_ingested_ids(sparse: bool) -> None:
    """Ingested record ids are batch << 24 | row (sparse: a dense array over them would need tens of GB,
    which the demo's scoring once tried); ids from one sequence are dense. Both map the same way."""
    import pyarrow as pa

    rng = np.random.default_rng(4)
    n = 3000
    rid = np.arange(1, n + 1, dtype=np.int64)
    if sparse:
        rid = (rng.integers(1, 400, n).astype(np.int64) << 24) | rng.permutation(n).astype(np.int64)
        rid = np.unique(rid)
        n = len(rid)
    person_ids = np.arange(100, 100 + 500, dtype=np.int64)
    linked = rng.random(n) < 0.9
    who = rng.integers(0, 500, n)
    links = pa.table({"record_id": rid[linked], "person_id": person_ids[who[linked]]})
    frames = [pa.table({"record_id": rid[: n // 2]}), pa.table({"record_id": rid[n // 2 :]})]
    person_of = inputs._record_to_person(links, person_ids, frames)
    got = np.concatenate([person_of(f) for f in frames])
    assert (got == np.where(linked, who, -1)).all()
