"""Vietnamese address parsing: parts, normal form and the match key shared with the address registry.

    >>> p = parse("14/12 Kỳ Đồng, P.9, Q.3, TP.HCM")
    >>> p.alley, p.house_number, p.street, p.ward, p.district
    ('14', '12', 'Đường Kỳ Đồng', 'Phường 9', 'Quận 3')

`parse_many` parses a column once per distinct value. Wards and districts are given as written; turning
them into units of a geography (through the crosswalks) is `geo.resolve`'s job.
"""

from geo.address.lexicon import AdminLexicon, admin_lexicon
from geo.address.parser import parse, parse_many
from geo.address.parts import (
    PART_COLUMNS,
    AddressParts,
    alley_key,
    house_key,
    match_key_for_point,
    normal_alley,
    normal_form,
    normal_street,
    read_house,
    street_key,
)

__all__ = [
    "PART_COLUMNS",
    "AddressParts",
    "AdminLexicon",
    "admin_lexicon",
    "alley_key",
    "house_key",
    "match_key_for_point",
    "normal_alley",
    "normal_form",
    "normal_street",
    "parse",
    "parse_many",
    "read_house",
    "street_key",
]
