"""Fixtures for the geo tests: a small address registry on real ward polygons, and a geocoder over it."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.geo.fakecity import build_registry, noisy_addresses

# Old-city wards with splits and merges (Bến Thành, Sài Gòn, Tân Định, Xuân Hòa, Bàn Cờ, Nhiêu Lộc,
# Bình Hưng Hòa, Bình Trị Đông, Tân Tạo, Tân Nhựt), and two former Bình Dương wards.
WARDS = [
    "26743",
    "26740",
    "26737",
    "27139",
    "27154",
    "27142",
    "27439",
    "27448",
    "27457",
    "27595",
    "25747",
    "25750",
]


@pytest.fixture(scope="session")
def fake_points() -> pd.DataFrame:
    return build_registry(WARDS, points_per_ward=250, seed=7)


@pytest.fixture(scope="session")
def fake_registry(fake_points: pd.DataFrame) -> pd.DataFrame:
    from geo.geocode import prepare_registry

    return prepare_registry(fake_points)


@pytest.fixture(scope="session")
def geocoder(fake_registry: pd.DataFrame):
    from geo.geocode import Geocoder, default_wards

    return Geocoder(fake_registry, wards=default_wards())


@pytest.fixture(scope="session")
def noisy(fake_points: pd.DataFrame) -> pd.DataFrame:
    return noisy_addresses(fake_points, 2500, seed=11)
