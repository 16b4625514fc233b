"""Empirical-Bayes rates and Gi* hot spots agree with esda, and find what was planted."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from risk.score.hotspots import gi_star_z, hotspots
from risk.score.metrics import empirical_bayes, smooth_with
from risk.score.units import cell_cell_neighbours


def test_empirical_bayes_equals_esda_for_one_parent() -> None:
    from esda.smoothing import Empirical_Bayes

    rng = np.random.default_rng(3)
    e = rng.poisson(4, size=80).astype(float)
    n = rng.integers(100, 2000, size=80).astype(float)
    ours = empirical_bayes(e, n, np.zeros(80, dtype=int)).rate
    theirs = Empirical_Bayes(e, n).r.ravel()
    assert np.allclose(ours, theirs, rtol=1e-12)


def test_empirical_bayes_shrinks_toward_each_parent() -> None:
    # two wards with very different rates; small units move toward their own ward's rate
    e = np.array([0, 20, 10, 50, 0, 30, 100, 400], dtype=float)
    n = np.array([50, 50, 1000, 5000, 50, 50, 1000, 5000], dtype=float)
    parent = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = empirical_bayes(e, n, parent)
    m0, m1 = e[:4].sum() / n[:4].sum(), e[4:].sum() / n[4:].sum()
    assert s.prior[:4] == pytest.approx([m0] * 4) and s.prior[4:] == pytest.approx([m1] * 4)
    raw = e / n
    # every smoothed rate lies between the raw rate and the parent's
    lo = np.minimum(raw, s.prior)
    hi = np.maximum(raw, s.prior)
    assert ((s.rate >= lo - 1e-12) & (s.rate <= hi + 1e-12)).all()
    # small units are pulled harder than big ones
    assert s.weight[0] < s.weight[3] and s.weight[4] < s.weight[7]
    # the priors of a run smooth later counts the same way (incremental updates)
    assert np.allclose(smooth_with(e, n, parent, s), s.rate)
    # no population: no rate, never an invented one
    assert np.isnan(empirical_bayes(np.array([1.0]), np.array([0.0]), np.array([0])).rate).all()


def test_gi_star_equals_esda() -> None:
    from esda import G_Local
    from libpysal.graph import Graph

    rng = np.random.default_rng(1)
    n = 150
    rows = np.repeat(np.arange(n), 4)
    cols = (rows + rng.integers(1, 15, size=len(rows))) % n
    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    adj = ((adj + adj.T) > 0).astype(float).tocsr()
    y = rng.gamma(1.0, 5.0, size=n)
    esda_z = G_Local(
        y, Graph.from_sparse(adj).assign_self_weight(1.0), transform="B", permutations=0, star=True
    ).Zs
    assert np.allclose(gi_star_z(y, adj), esda_z)


def test_fdr_threshold_equals_esda() -> None:
    import esda

    from risk.score.hotspots import fdr

    rng = np.random.default_rng(7)
    for p in (rng.random(500), np.r_[rng.random(300) * 1e-4, rng.random(700)], np.ones(10)):
        for alpha in (0.01, 0.05, 0.1):
            assert fdr(p, alpha) == pytest.approx(float(esda.fdr(p, alpha)))


def _grid(res: int = 9, k: int = 6) -> pd.Index:
    import h3

    centre = h3.latlng_to_cell(10.78, 106.70, res)
    return pd.Index(sorted(h3.grid_disk(centre, k)))


def test_a_planted_cluster_is_a_hot_spot_and_noise_is_not() -> None:
    import h3

    ids = _grid()
    adj = cell_cell_neighbours(ids)
    assert adj.shape == (len(ids), len(ids)) and (adj != adj.T).nnz == 0
    rng = np.random.default_rng(0)
    y = rng.poisson(2, size=len(ids)).astype(float)
    centre = h3.latlng_to_cell(10.78, 106.70, 9)
    cluster = ids.get_indexer(list(h3.grid_disk(centre, 1)))
    y[cluster] = 40
    h = hotspots(y, adj, alpha=0.05)
    assert h.hot[cluster].all()
    assert h.hot.sum() <= len(cluster) + 12  # the cluster and at most its rim
    quiet = hotspots(rng.poisson(2, size=len(ids)).astype(float), adj, alpha=0.05)
    assert quiet.hot.sum() <= 2  # false discoveries controlled


@pytest.mark.slow
def test_permutation_inference_through_esda() -> None:
    ids = _grid(k=4)
    adj = cell_cell_neighbours(ids)
    y = np.zeros(len(ids))
    y[:7] = 30
    h = hotspots(y + 1, adj, alpha=0.1, permutations=49, seed=1)
    assert h.method == "gi*-permutation-49" and len(h.p) == len(ids)


def test_per_household_sums_equal_a_plain_scatter() -> None:
    from risk.score.metrics import per_household

    rng = np.random.default_rng(1)
    hh = np.sort(rng.integers(-1, 50, 400)).astype(np.int32)  # −1: persons without a household
    cols = [rng.random(400) < 0.4, rng.integers(0, 3, 400).astype(np.int8)]
    expected = np.zeros((55, 2), dtype=np.int64)
    for j, c in enumerate(cols):
        np.add.at(expected[:, j], hh[hh >= 0], c[hh >= 0].astype(np.int64))
    assert (per_household(hh, cols, 55) == expected).all()
    with pytest.raises(ValueError, match="ordered by household"):
        per_household(hh[::-1].copy(), [c[::-1].copy() for c in cols], 55)
