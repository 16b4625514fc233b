import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.vntext import fold, map_unique, normalize, strip_tones, title_case


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("hoà", "hòa"),  # new-style tone placement → the traditional one official names use
        ("Thuỷ", "Thủy"),
        ("khoẻ", "khỏe"),
        ("uý", "úy"),
        ("Qúy", "Quý"),  # qu is a consonant: the tone belongs on y
        ("quà", "quà"),
        ("Hoàng", "Hoàng"),  # closed syllable: unchanged
        ("Ðặng", "Đặng"),  # Icelandic eth → Vietnamese Đ
        ("  Nguyễn   Văn\tAn ", "Nguyễn Văn An"),
        ("Nguye\u0302\u0303n", "Nguyễn"),  # NFD → NFC
    ],
)
def test_normalize(raw: str, normal: str) -> None:
    assert normalize(raw) == normal


def test_fold_and_tones() -> None:
    assert fold("Đặng Thị Hoà") == "dang thi hoa"
    assert strip_tones("Nguyễn Đức Thắng") == "Nguyên Đưc Thăng"
    assert title_case("NGUYỄN văn AN") == "Nguyễn Văn An"


def test_map_unique_calls_once_per_value() -> None:
    calls: list[object] = []

    def f(v: object) -> str:
        calls.append(v)
        return str(v).upper()

    out = map_unique(pd.Series(["a", "b", "a", None, "a"]), f)
    assert out.tolist() == ["A", "B", "A", "NONE", "A"]
    assert calls.count("a") == 1


@given(st.text())
def test_normalize_never_crashes_and_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert fold(once) == fold(text)
