"""The parser on the real OpenStreetMap addresses in data/osm: parts against the `addr:*` tags.

Each point's tags are composed into one address string as people write it (`house street, ward,
district, city`) and parsed; every tag must come back as the part it tags. Tags that do not hold a value
of their own kind (judged from the tags alone, e.g. a house tag "1st floor", a street tag holding a whole
address) cannot agree or disagree and are counted apart. The disagreement classes and their counts are
printed and recorded in the test report (`osm_disagreements`).
"""

from __future__ import annotations

import collections

import pytest

from tests.geo.osmcheck import check, load_points, malformed


@pytest.fixture(scope="module")
def results() -> list[tuple]:
    pts = load_points()
    return [(check(r), malformed(r)) for _, r in pts.iterrows()]


def test_osm_parts_agree_with_tags(results: list[tuple], record_property) -> None:
    n_all = len(results)
    agree_all = sum(c.agree for c, _ in results)
    usable = [(c, m) for c, m in results if not m]
    agree = sum(c.agree for c, _ in usable)
    classes = collections.Counter(k for c, _ in usable for k in c.classes)
    odd_tags = collections.Counter(k for _, m in results for k in m)
    lines = [
        f"OSM points with house number or street tags: {n_all}; parts agree with all tags: "
        f"{agree_all} ({agree_all / n_all:.1%})",
        f"points whose tags each hold a value of their kind: {len(usable)}; agree: {agree} "
        f"({agree / len(usable):.1%})",
        "disagreement classes (points with well-formed tags):",
        *(f"  {v:4d}  {k}" for k, v in classes.most_common()),
        "tags that hold something else (not compared):",
        *(f"  {v:4d}  {k}" for k, v in odd_tags.most_common()),
    ]
    report = "\n".join(lines)
    print("\n" + report)
    record_property("osm_disagreements", report)
    assert n_all > 2000
    assert agree / len(usable) >= 0.95, report
    assert agree_all / n_all >= 0.90, report


def test_osm_full_address_strings_parse(record_property) -> None:
    """`addr:full` strings as given (no composition): the parts found agree with the other tags."""
    from geo.address import parse
    from tests.geo.osmcheck import admin_key

    pts = load_points()
    full = pts[pts["addr_full"].notna()]
    both = ok = 0
    for r in full.itertuples():
        p = parse(r.addr_full)
        for tag, part in ((r.addr_ward, p.ward), (r.addr_district, p.district)):
            if isinstance(tag, str) and tag:
                both += 1
                ok += admin_key(tag) == admin_key(part)
    record_property("osm_addr_full", f"{ok}/{both} ward/district tags found in addr:full")
    assert len(full) > 100
    assert both == 0 or ok / both >= 0.8
