"""Identity numbers and phones: CCCD consistent with birth year and sex, old CMND, passports, mobiles.

CCCD (12 digits): province of birth registration (3) · century-and-sex digit (1900s: male 0 / female 1;
2000s: 2 / 3) · last two digits of the birth year · 6 random digits; unique. Residents of the former HCMC
were mostly registered in HCMC (079), the rest in the provinces that send migrants to it; Bình Dương (074)
and Bà Rịa–Vũng Tàu (077) residents likewise. CMND (9 digits) is kept for ~40 % of adults, prefixed by
the issuing province (HCMC 02; the other prefixes here are approximate). Mobiles are the 10-digit form
of 2018 (`0` + 9 digits, carrier prefixes 03x, 05x, 07x, 08x, 09x); a map gives the pre-2018 11-digit
prefix of those that changed. Numbers are held as int64 and zero-padded only when written.
"""

from __future__ import annotations

import numpy as np

# (province code, weight) of birth registration for residents of each region
_MIGRANT_PROVINCES = {
    1: 0.6,
    38: 0.9,
    40: 1.1,
    42: 0.7,
    44: 0.4,
    46: 0.6,
    48: 0.4,
    49: 1.0,
    51: 1.1,
    52: 1.2,
    54: 0.6,
    56: 0.4,
    36: 0.6,
    34: 0.6,
    33: 0.3,
    30: 0.3,
    66: 0.4,
    68: 0.4,
    70: 0.4,
    72: 0.8,
    75: 1.2,
    80: 2.0,
    82: 1.6,
    83: 1.5,
    84: 1.0,
    86: 1.0,
    87: 1.5,
    89: 1.6,
    91: 1.2,
    92: 1.0,
    93: 0.6,
    94: 1.1,
    95: 0.7,
    96: 0.8,
    74: 0.5,
    77: 0.5,
    79: 0.0,
}
HOME_PROVINCE = {"old-city": 79, "binh-duong": 74, "ba-ria-vung-tau": 77}
HOME_SHARE = {"old-city": 0.64, "binh-duong": 0.42, "ba-ria-vung-tau": 0.62}
CMND_PREFIX = {"old-city": 2, "binh-duong": 28, "ba-ria-vung-tau": 27}  # approximate outside HCMC

# 2018 mobile prefixes (3 digits after the 0) with rough market shares, and the pre-2018 11-digit
# prefixes (4 digits after the 0) of those that were converted.
MOBILE_PREFIXES = {
    32: 3,
    33: 3,
    34: 3,
    35: 3,
    36: 3,
    37: 3,
    38: 3,
    39: 3,
    86: 3,
    96: 5,
    97: 5,
    98: 5,
    70: 2,
    76: 2,
    77: 2,
    78: 2,
    79: 2,
    89: 2,
    90: 5,
    93: 4,
    81: 2,
    82: 2,
    83: 2,
    84: 2,
    85: 2,
    88: 2,
    91: 4,
    94: 3,
    52: 0.3,
    56: 0.5,
    58: 0.5,
    92: 0.7,
    59: 0.3,
    99: 0.3,
}
OLD_PREFIX = {
    32: 162,
    33: 163,
    34: 164,
    35: 165,
    36: 166,
    37: 167,
    38: 168,
    39: 169,
    70: 120,
    79: 121,
    77: 122,
    76: 126,
    78: 128,
    83: 123,
    84: 124,
    85: 125,
    81: 127,
    82: 129,
    56: 186,
    58: 188,
    59: 199,
}


def _unique_fill(rng: np.random.Generator, base: np.ndarray, span: int) -> np.ndarray:
    """base + a random number in [0, span), redrawn until every result is unique."""
    value = base + rng.integers(0, span, len(base))
    for _ in range(100):
        order = np.argsort(value, kind="stable")
        dup = np.zeros(len(value), dtype=bool)
        dup[order[1:]] = value[order][1:] == value[order][:-1]
        if not dup.any():
            return value
        value[dup] = base[dup] + rng.integers(0, span, int(dup.sum()))
    raise RuntimeError("could not draw unique identity numbers")


def cccd_numbers(
    rng: np.random.Generator,
    birth_year: np.ndarray,
    female: np.ndarray,
    region: np.ndarray,
    regions: tuple[str, ...],
) -> np.ndarray:
    """12-digit CCCD numbers (int64) consistent with birth year and sex; unique."""
    n = len(birth_year)
    provinces = np.array(list(_MIGRANT_PROVINCES), dtype=np.int64)
    weights = np.array(list(_MIGRANT_PROVINCES.values()), dtype=np.float64)
    province = provinces[rng.choice(len(provinces), n, p=weights / weights.sum())]
    home = np.array([HOME_PROVINCE[r] for r in regions])[region]
    share = np.array([HOME_SHARE[r] for r in regions])[region]
    young = birth_year >= 2000
    share = np.where(young, share + (1 - share) * 0.5, share)  # children were mostly registered locally
    province = np.where(rng.random(n) < share, home, province)
    century = np.where(birth_year >= 2000, 2, 0) + female.astype(np.int64)
    base = province * 10**9 + century * 10**8 + (birth_year % 100) * 10**6
    return _unique_fill(rng, base.astype(np.int64), 10**6)


def cmnd_numbers(rng: np.random.Generator, region: np.ndarray, regions: tuple[str, ...]) -> np.ndarray:
    """9-digit CMND numbers (int64): issuing-province prefix + 7 digits; unique here (not in reality)."""
    prefix = np.array([CMND_PREFIX[r] for r in regions])[region].astype(np.int64)
    return _unique_fill(rng, prefix * 10**7, 10**7)


def phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mobiles as the 9 digits after the leading 0 (int64): prefix · 7 digits; unique."""
    prefixes = np.array(list(MOBILE_PREFIXES), dtype=np.int64)
    w = np.array(list(MOBILE_PREFIXES.values()), dtype=np.float64)
    prefix = prefixes[rng.choice(len(prefixes), n, p=w / w.sum())]
    return _unique_fill(rng, prefix * 10**7, 10**7)


def passport_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Passport serial digits (int64, 7–8 digits); the nationality's letter prefix is added when written."""
    return _unique_fill(rng, np.full(n, 10**7, dtype=np.int64), 9 * 10**7)
