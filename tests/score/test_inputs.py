"""Id lookups of the scoring inputs: the partitioned lookup equals the plain one, and refuses duplicates."""

import numpy as np
import pytest

from risk.score import inputs


@pytest.mark.parametrize("kind", ["random", "sequential"])
def test_partitioned_positions_equal_plain_positions(monkeypatch, kind: str) -> None:
    rng = np.random.default_rng(3)
    keys = (
        rng.integers(1, 2**62, 5000, dtype=np.int64)
        if kind == "random"
        else np.arange(5000, dtype=np.int64)[::-1].copy()
    )
    values = np.concatenate([keys[rng.integers(0, len(keys), 20000)], [-1, 2**62 + 5]])
    plain = inputs.positions(values, keys, "persons")
    assert (keys[plain[:-2]] == values[:-2]).all() and (plain[-2:] == -1).all()
    monkeypatch.setattr(inputs, "PARTITION_KEYS", 100)
    monkeypatch.setattr(inputs, "PARTITION_BITS", 4)
    assert (inputs.positions(values, keys, "persons") == plain).all()
    with pytest.raises(ValueError, match="persons: ids are not unique"):
        inputs.positions(values, np.r_[keys, keys[7]], "persons")
