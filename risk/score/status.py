"""Each person's status at an as-of date, vectorised: age group, vaccination, infection, quarantine, tests.

Vaccination, from the doses' recorded kinds (so a dose reported by two sites does not count twice):
`one_dose`: any dose; `full` (complete primary series): a second dose (`mui_2`), a booster, a Janssen
dose, or two doses of which at least one has no stated kind; `boosted`: a booster (`bo_sung`,
`nhac_lai_*`), or a dose after a Janssen dose, or three doses with no stated kind. A booster is due for
people aged >= 50 or comorbid whose primary series was completed more than `booster_days` ago (its last
dose) and who have no booster (HCMC, December 2021). Events after the as-of date are invisible: the same
function gives the status on any past day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from risk.score.inputs import BOOSTER, FOUND_UNKNOWN, JANSSEN, SECOND, UNSTATED, Events, ScoreInputs

ADULT_AGE = 18
OLDER_AGE = 50
ELDERLY_AGE = 65
NEVER = np.iinfo(np.int32).min


@dataclass
class PersonStatus:
    """Per-person arrays (length P) at one as-of day."""

    day: int
    age: np.ndarray  # float32, NaN unknown
    adult: np.ndarray  # bool
    older: np.ndarray  # bool, >= 50
    elderly: np.ndarray  # bool, >= 65
    comorbid: np.ndarray  # bool (unknown counts as not comorbid)
    doses: np.ndarray  # int16 doses up to the day
    one_dose: np.ndarray  # bool
    full: np.ndarray  # bool
    boosted: np.ndarray  # bool
    booster_due: np.ndarray  # bool
    active_f0: np.ndarray  # bool: reported F0 in the last active_f0_days
    ever_f0: np.ndarray  # bool: reported F0 on or before the day
    positive_recent: np.ndarray  # bool: positive test in the last positive_days, not (yet) a case
    f1_quarantined: np.ndarray  # bool: quarantine begun in the last quarantine_days, not a case since
    f1_home: np.ndarray  # bool: that quarantine is at home

    @property
    def vulnerable(self) -> np.ndarray:
        """Aged >= 65 or comorbid."""
        return self.elderly | self.comorbid

    @property
    def high_risk(self) -> np.ndarray:
        """Aged >= 50 or comorbid (Decision 218's high-risk group as HCMC listed it)."""
        return self.older | self.comorbid


def last_per_person(ev: Events, mask: np.ndarray, n: int) -> np.ndarray:
    """Day of each person's last masked event (events sorted by person, day); NEVER when none."""
    out = np.full(n, NEVER, dtype=np.int32)
    p = ev.person[mask]
    d = ev.day[mask]
    ok = p >= 0
    p, d = p[ok], d[ok]
    if not len(p):
        return out
    last = np.ones(len(p), dtype=bool)
    last[:-1] = p[1:] != p[:-1]
    out[p[last]] = d[last]
    return out


def max_day_per_person(ev: Events, mask: np.ndarray, n: int) -> np.ndarray:
    """Day of each person's latest masked event (any order); NEVER when none."""
    out = np.full(n, NEVER, dtype=np.int32)
    p = ev.person[mask]
    ok = p >= 0
    np.maximum.at(out, p[ok], ev.day[mask][ok])
    return out


def count_per_person(ev: Events, mask: np.ndarray, n: int) -> np.ndarray:
    p = ev.person[mask]
    p = p[p >= 0]
    return np.bincount(p, minlength=n)[:n] if len(p) else np.zeros(n, dtype=np.int64)


def person_status(
    inputs: ScoreInputs,
    day: int,
    *,
    active_f0_days: int = 14,
    quarantine_days: int = 14,
    positive_days: int = 7,
    booster_days: int = 183,
) -> PersonStatus:
    """Status of every person on `day` (days since 1970-01-01), from events up to that day."""
    n = inputs.n_persons
    year = int(np.datetime64(int(day), "D").astype("datetime64[Y]").astype(int) + 1970)
    age = (year - inputs.birth_year).astype(np.float32)
    known = ~np.isnan(age)
    adult = known & (age >= ADULT_AGE)
    older = known & (age >= OLDER_AGE)
    elderly = known & (age >= ELDERLY_AGE)
    comorbid = inputs.comorbid == 1

    d = inputs.doses
    seen = d.day <= day
    kind = d.attrs["kind"]
    doses = count_per_person(d, seen, n).astype(np.int16)
    second = count_per_person(d, seen & (kind == SECOND), n) > 0
    booster = count_per_person(d, seen & (kind == BOOSTER), n) > 0
    janssen = count_per_person(d, seen & (kind == JANSSEN), n) > 0
    unstated = count_per_person(d, seen & (kind == UNSTATED), n)
    one_dose = doses >= 1
    full = second | booster | janssen | ((unstated >= 1) & (doses >= 2))
    boosted = booster | (janssen & (doses >= 2)) | ((unstated >= 1) & (doses >= 3))
    last_primary = max_day_per_person(d, seen & (kind != BOOSTER), n)
    booster_due = (
        (older | comorbid) & full & ~boosted & (last_primary != NEVER) & (last_primary <= day - booster_days)
    )

    c = inputs.cases
    case_day = np.full(n, NEVER, dtype=np.int32)
    linked = c.person >= 0
    case_day[c.person[linked]] = c.day[linked]  # one case per person (the earliest report)
    ever_f0 = (case_day != NEVER) & (case_day <= day)
    active_f0 = ever_f0 & (case_day > day - active_f0_days)

    t = inputs.tests
    pos = t.attrs["positive"] & (t.day <= day) & (t.day > day - positive_days)
    positive_recent = (count_per_person(t, pos, n) > 0) & ~ever_f0

    k = inputs.contacts
    q = (k.day <= day) & (k.day > day - quarantine_days)
    f1 = count_per_person(k, q, n) > 0
    f1_home = count_per_person(k, q & k.attrs["home"], n) > 0
    f1 &= ~ever_f0 | (case_day < last_per_person(k, q, n))  # a case since the quarantine began ends it

    return PersonStatus(
        day=day,
        age=age,
        adult=adult,
        older=older,
        elderly=elderly,
        comorbid=comorbid,
        doses=doses,
        one_dose=one_dose,
        full=full,
        boosted=boosted,
        booster_due=booster_due,
        active_f0=active_f0,
        ever_f0=ever_f0,
        positive_recent=positive_recent,
        f1_quarantined=f1,
        f1_home=f1_home & f1,
    )


def community_case_mask(inputs: ScoreInputs, day: int, window: int) -> np.ndarray:
    """Cases reported in (day − window, day] found in the community (or with no place stated)."""
    c = inputs.cases
    found = c.attrs["found"]
    return (c.day <= day) & (c.day > day - window) & ((found == 0) | (found == FOUND_UNKNOWN))


def known_source(inputs: ScoreInputs, lookback: int = 14) -> np.ndarray:
    """For each case: is its source known? Three traces, each from the records alone:

    * found in quarantine or lockdown (traced before the test);
    * the person was a listed F1 (a contact record) whose quarantine began in the `lookback` days before
      the report;
    * another member of the household was reported F0 in the `lookback` days before (household
      transmission, whether or not the member was listed as F1).
    """
    c, k = inputs.cases, inputs.contacts
    out = (c.attrs["found"] == 1) | (c.attrs["found"] == 2)
    if not len(c):
        return out
    if len(k):
        # Contacts sorted by (person, day): for each case, the person's last contact day <= report day.
        base = int(min(k.day.min(), c.day.min()))
        key_k = k.person.astype(np.int64) * (1 << 21) + (k.day.astype(np.int64) - base)
        key_c = c.person.astype(np.int64) * (1 << 21) + (c.day.astype(np.int64) - base)
        idx = np.searchsorted(key_k, key_c, side="right") - 1
        ok = (idx >= 0) & (c.person >= 0)
        idx = np.maximum(idx, 0)
        same = ok & (k.person[idx] == c.person)
        out |= same & (k.day[idx] >= c.day - lookback)
    hh = np.where(c.person >= 0, inputs.person_hh[np.maximum(c.person, 0)], -1)
    order = np.lexsort((c.day, hh))
    h, d = hh[order], c.day[order]
    earlier = np.zeros(len(order), dtype=bool)
    # the first case of the household on an earlier day within the look-back: compare with the previous
    # case of the household whose day differs (same-day cases do not explain each other)
    first_of_day = np.ones(len(order), dtype=bool)
    first_of_day[1:] = (h[1:] != h[:-1]) | (d[1:] != d[:-1])
    last_before = np.where(first_of_day, np.arange(len(order)) - 1, -1)
    last_before = np.maximum.accumulate(np.where(first_of_day, last_before, -1))
    prev = last_before
    ok = (prev >= 0) & (h >= 0)
    p = np.maximum(prev, 0)
    earlier = ok & (h[p] == h) & (d[p] < d) & (d[p] >= d - lookback)
    out[order] |= earlier
    return out
