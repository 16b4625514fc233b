"""The Fellegi–Sunter model: m and u probabilities per comparison level, term-frequency adjusted names.

* u (how often a level occurs between two different people) is measured on random record–person pairs;
  for an exact name match it is the name's own frequency among persons (term-frequency adjustment:
  two "Nguyễn Văn An" agree far more often by chance than two "Quách Thị Diệu").
* m (how often it occurs for the same person) is measured on anchor pairs whose identity is not in
  doubt from *other* fields: a field is never its own witness (the name's m comes from pairs that agree
  on ID and birth date, the ID's m from pairs that agree on name, birth date and address, …).

Match weight = Σ log2(m/u) over fields with evidence; probability = 1 / (1 + 2^−(weight + log2 λ/(1−λ)))
with λ the prior that a candidate pair is a match. Estimation needs no labels: the data trains itself,
as Splink's deterministic-rule m estimation does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from risk.link.compare import FIELDS, LEVELS

FLOOR = 1e-6
# Fields whose agreement proves an anchor for estimating each field's m (never the field itself).
WITNESSES: dict[str, tuple[tuple[str, int], ...]] = {
    "name": (("id", 0), ("dob", 0)),
    "dob": (("id", 0), ("name", 0)),
    "sex": (("id", 0), ("name", 0)),
    "id": (("name", 0), ("dob", 0), ("place", 0)),
    "phone": (("id", 0), ("name", 0), ("dob", 0)),
    "place": (("id", 0), ("name", 0), ("dob", 0)),
}
# Fallback m when too few anchors are seen (tiny test data): plausible, deliberately modest.
DEFAULT_M: dict[str, tuple[float, ...]] = {
    "name": (0.90, 0.02, 0.05, 0.01, 0.02),
    "dob": (0.85, 0.02, 0.08, 0.01, 0.01, 0.03),
    "sex": (0.995, 0.005),
    "id": (0.97, 0.01, 0.02),
    "phone": (0.85, 0.15),
    "place": (0.85, 0.10, 0.05),
}
MIN_ANCHORS = 200


@dataclass
class Model:
    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    name_tf: pd.Series  # folded name → share of persons with it
    prior: float = 0.5
    anchors: dict[str, int] = field(default_factory=dict)

    def weights(
        self,
        levels: dict[str, np.ndarray],
        name_key: np.ndarray | None = None,
        *,
        shares: np.ndarray | None = None,
    ) -> np.ndarray:
        """Match weight (bits) of each pair. The exact-name term is adjusted by the name's frequency:
        from the records' `name_key`, or `shares` (per pair, the record name's share of persons, NaN
        when unknown: `name_shares`)."""
        n = len(next(iter(levels.values())))
        w = np.zeros(n, dtype=np.float64)
        for f in FIELDS:
            # level −1 (no evidence) takes the appended 0: adding 0.0 leaves the sum as it was
            table = np.append(np.log2(self.m[f] / self.u[f]), 0.0)
            w += table[levels[f]]
        if (name_key is not None or shares is not None) and len(self.name_tf):
            exact = levels["name"] == 0
            if exact.any():
                if shares is None:
                    tf = self.name_tf.reindex(pd.Index(name_key[exact])).to_numpy(dtype=float)
                else:
                    tf = shares[exact]
                tf = np.where(np.isnan(tf), self.u["name"][0], np.maximum(tf, FLOOR))
                # replace the average u of an exact name match by the name's own frequency
                w[exact] += np.log2(self.u["name"][0]) - np.log2(tf)
        return w

    def name_shares(self, names: np.ndarray) -> np.ndarray:
        """Share of persons holding each of `names` (NaN for a name no person holds)."""
        return self.name_tf.reindex(pd.Index(names)).to_numpy(dtype=float)

    def probability(self, weight: np.ndarray) -> np.ndarray:
        logit = weight + np.log2(self.prior / (1 - self.prior))
        return 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))

    def describe(self) -> dict:
        return {
            f: {
                lvl: {"m": round(float(self.m[f][i]), 5), "u": float(f"{self.u[f][i]:.3g}")}
                for i, lvl in enumerate(LEVELS[f])
            }
            for f in FIELDS
        } | {"anchors": self.anchors}


def _shares(levels: np.ndarray, k: int) -> np.ndarray:
    ok = levels[levels >= 0]
    counts = np.bincount(ok, minlength=k).astype(float)
    return counts / max(counts.sum(), 1.0)


def anchor_counts(pair_levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per field, how many candidate pairs that its witnesses prove to be one person show each level
    (the m estimate's data; counts of several partitions add up)."""
    out: dict[str, np.ndarray] = {}
    for f in FIELDS:
        anchor = np.ones(len(pair_levels[f]), dtype=bool)
        for g, lv in WITNESSES[f]:
            anchor &= pair_levels[g] == lv
        seen = pair_levels[f][anchor]
        out[f] = np.bincount(seen[seen >= 0], minlength=len(LEVELS[f])).astype(np.int64)
    return out


def estimate_from(
    anchors: dict[str, np.ndarray], random_levels: dict[str, np.ndarray], name_counts: pd.Series
) -> Model:
    """The model from anchor counts (`anchor_counts`), random pairs' levels and the persons' name counts
    (folded name → persons): what `estimate` computes, from parts a partitioned relink adds up."""
    m: dict[str, np.ndarray] = {}
    u: dict[str, np.ndarray] = {}
    seen_n: dict[str, int] = {}
    for f in FIELDS:
        k = len(LEVELS[f])
        counts = anchors[f].astype(float)
        seen_n[f] = int(counts.sum())
        if seen_n[f] >= MIN_ANCHORS:
            # a little of the default keeps rare levels from being impossible
            m[f] = np.maximum(0.98 * counts / max(counts.sum(), 1.0) + 0.02 * np.array(DEFAULT_M[f]), FLOOR)
        else:
            m[f] = np.array(DEFAULT_M[f], dtype=float)
        m[f] = m[f] / m[f].sum()
        uu = _shares(random_levels[f], k)
        u[f] = np.maximum(uu, FLOOR)
        u[f] = u[f] / u[f].sum()
    total = float(name_counts.sum())
    tf = (name_counts / total) if total else name_counts.astype(float)
    return Model(m=m, u=u, name_tf=tf, anchors=seen_n)


def name_counts(person_names: pd.Series) -> pd.Series:
    """Persons per folded name (empty names left out), commonest first."""
    names = person_names.fillna("").astype(str)
    return names[names != ""].value_counts()


def estimate(
    pair_levels: dict[str, np.ndarray],
    random_levels: dict[str, np.ndarray],
    person_names: pd.Series,
) -> Model:
    """m from anchor pairs among the candidates, u from random pairs, name frequencies from persons."""
    return estimate_from(anchor_counts(pair_levels), random_levels, name_counts(person_names))
