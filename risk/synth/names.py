"""Vietnamese (and a few foreign) personal names, drawn with realistic frequencies.

Family names follow published shares (Nguyễn ~38 %, Trần ~11 %, Lê 9.5 %, Phạm 7 %, Huỳnh/Hoàng 5.1 %,
Phan 4.5 %, Võ/Vũ 3.9 %, Đặng 2.1 %, Bùi 2 %, Đỗ 1.4 %, Hồ 1.3 %, Ngô 1.3 %, Dương 1 %, Lý 0.5 %; the
southern variants Huỳnh and Võ outweigh Hoàng and Vũ in HCMC); the rest is shared by rarer names.
Middle names: Văn (men) and Thị (women) are traditional and commoner among older people; others vary.
Given-name weights fall off with rank (no public frequency table was found: these are plausible, not
measured). Names are stored as indices into the vocabularies here and joined only when written.
"""

from __future__ import annotations

import numpy as np

FAMILY: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.0),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Huỳnh", 3.3),
    ("Hoàng", 1.8),
    ("Phan", 4.5),
    ("Võ", 2.8),
    ("Vũ", 1.1),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    # the remaining ~6 %: rarer family names
    ("Trương", 0.6),
    ("Đinh", 0.5),
    ("Lâm", 0.5),
    ("Mai", 0.4),
    ("Đoàn", 0.4),
    ("Lưu", 0.3),
    ("Cao", 0.3),
    ("Hà", 0.3),
    ("Tô", 0.25),
    ("Châu", 0.25),
    ("Tạ", 0.2),
    ("Thái", 0.2),
    ("Lương", 0.2),
    ("Trịnh", 0.2),
    ("Phùng", 0.15),
    ("Vương", 0.15),
    ("Quách", 0.15),
    ("Triệu", 0.1),
    ("Kiều", 0.1),
    ("La", 0.1),
    ("Hứa", 0.1),
    ("Tăng", 0.1),
    ("Diệp", 0.1),
    ("Từ", 0.1),
    ("Chu", 0.1),
    ("Lữ", 0.05),
    ("Khổng", 0.05),
    ("Mạc", 0.05),
    ("Thân", 0.05),
    ("Tôn", 0.05),
    ("Giang", 0.05),
    ("Lạc", 0.05),
    ("Kha", 0.05),
    ("Tiêu", 0.05),
    ("Bạch", 0.05),
    ("Âu", 0.05),
    ("Ông", 0.05),
    ("Nghiêm", 0.05),
)

MIDDLE_MALE: tuple[str, ...] = (
    "Minh",
    "Hữu",
    "Đức",
    "Quốc",
    "Thanh",
    "Hoàng",
    "Công",
    "Ngọc",
    "Tấn",
    "Duy",
    "Gia",
    "Anh",
    "Nhật",
    "Trung",
    "Xuân",
    "Thành",
    "Quang",
    "Hoài",
    "Trọng",
    "Tuấn",
    "Đình",
    "Phước",
    "Thái",
    "Bảo",
    "Khánh",
    "Chí",
    "Thiện",
    "Vĩnh",
    "Hải",
    "Tuệ",
)
MIDDLE_FEMALE: tuple[str, ...] = (
    "Ngọc",
    "Thanh",
    "Thu",
    "Kim",
    "Mỹ",
    "Hồng",
    "Bảo",
    "Phương",
    "Minh",
    "Ánh",
    "Diệu",
    "Thùy",
    "Khánh",
    "Hoài",
    "Tuyết",
    "Cẩm",
    "Kiều",
    "Quỳnh",
    "Bích",
    "Thúy",
    "Xuân",
    "Hoàng",
    "Mai",
    "Như",
    "Gia",
    "Hạnh",
    "Yến",
    "Tường",
    "Hải",
    "Uyên",
)
GIVEN_MALE: tuple[str, ...] = (
    "Anh",
    "Minh",
    "Hùng",
    "Dũng",
    "Tuấn",
    "Nam",
    "Hải",
    "Long",
    "Phúc",
    "Khang",
    "Huy",
    "Bảo",
    "Đức",
    "Thành",
    "Tài",
    "Hòa",
    "Hiếu",
    "Quân",
    "Trung",
    "Tâm",
    "Sơn",
    "Phong",
    "Thắng",
    "Bình",
    "Cường",
    "Đạt",
    "Lộc",
    "Khoa",
    "Vinh",
    "Tú",
    "Nghĩa",
    "Thịnh",
    "Nhân",
    "Tín",
    "Tiến",
    "Phát",
    "Quang",
    "Hưng",
    "Toàn",
    "Thuận",
    "Việt",
    "Kiệt",
    "Trí",
    "Hào",
    "Luân",
    "Sang",
    "Quý",
    "Thiện",
    "Duy",
    "Lâm",
    "Tùng",
    "Hậu",
    "Lợi",
    "Thông",
    "Vũ",
    "An",
    "Khôi",
    "Nhật",
    "Thoại",
    "Hoàng",
    "Thái",
    "Danh",
    "Hiển",
    "Hòa",
    "Khải",
    "Thụy",
    "Quyết",
    "Tuyên",
    "Định",
    "Nhựt",
)
GIVEN_FEMALE: tuple[str, ...] = (
    "Anh",
    "Linh",
    "Trang",
    "Hương",
    "Ngọc",
    "Lan",
    "Thảo",
    "Hà",
    "Mai",
    "Phương",
    "Hằng",
    "Nhung",
    "Thủy",
    "Thúy",
    "Hạnh",
    "Dung",
    "Vy",
    "Nhi",
    "Yến",
    "Trâm",
    "Châu",
    "Hoa",
    "Hiền",
    "Loan",
    "Tuyết",
    "Vân",
    "Uyên",
    "Quỳnh",
    "Oanh",
    "My",
    "Ngân",
    "Thư",
    "Tiên",
    "Trinh",
    "Xuân",
    "Giang",
    "Duyên",
    "Hồng",
    "Huệ",
    "Liên",
    "Nga",
    "Diễm",
    "Kim",
    "Nhàn",
    "Thu",
    "Tâm",
    "Hòa",
    "Ánh",
    "Chi",
    "Hân",
    "Quyên",
    "Diệp",
    "Thoa",
    "Khuê",
    "Hường",
    "Ly",
    "Thanh",
    "Loan",
    "Thủy Tiên",
    "Bích",
)

# Foreign residents: (nationality in Vietnamese, passport prefix, family names, given names)
FOREIGN: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "Hàn Quốc",
        "M",
        ("Kim", "Lee", "Park", "Choi", "Jung", "Kang"),
        ("Min Jun", "Seo Yeon", "Ji Hoon", "Ha Eun", "Dong Hyun", "Soo Jin"),
    ),
    (
        "Trung Quốc",
        "E",
        ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang"),
        ("Wei", "Fang", "Jun", "Min", "Lei", "Xiu Ying"),
    ),
    (
        "Đài Loan (Trung Quốc)",
        "3",
        ("Chen", "Lin", "Huang", "Chang", "Wu"),
        ("Chia Hao", "Yi Ting", "Chun Hung", "Shu Fen"),
    ),
    (
        "Nhật Bản",
        "TK",
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe"),
        ("Hiroshi", "Yuki", "Kenji", "Akiko", "Takeshi"),
    ),
    (
        "Hoa Kỳ",
        "5",
        ("Smith", "Johnson", "Brown", "Miller", "Davis"),
        ("John", "Michael", "Emily", "Sarah", "David"),
    ),
)
FOREIGN_WEIGHTS = (0.35, 0.2, 0.15, 0.15, 0.15)

# Vocabularies: index 0 of MIDDLE is "" (no second middle name).
FAMILY_NAMES: tuple[str, ...] = tuple(n for n, _ in FAMILY) + tuple(
    sorted({f for _, _, fam, _ in FOREIGN for f in fam})
)
MIDDLE_NAMES: tuple[str, ...] = ("", "Văn", "Thị", *sorted(set(MIDDLE_MALE) | set(MIDDLE_FEMALE)))
GIVEN_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(GIVEN_MALE + GIVEN_FEMALE + tuple(g for _, _, _, giv in FOREIGN for g in giv))
)
_MID = {n: i for i, n in enumerate(MIDDLE_NAMES)}
_GIV = {n: i for i, n in enumerate(GIVEN_NAMES)}
_FAM = {n: i for i, n in enumerate(FAMILY_NAMES)}


def _zipf(n: int, s: float = 0.9) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def family_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Indices into FAMILY_NAMES for n Vietnamese persons."""
    w = np.array([f for _, f in FAMILY])
    return rng.choice(len(FAMILY), size=n, p=w / w.sum()).astype(np.int16)


def middle_and_given(rng: np.random.Generator, female: np.ndarray, birth_year: np.ndarray):
    """(middle1, middle2, given) indices. Văn/Thị more likely the older the person; ~12 % carry two
    middle names (`Thị Ngọc`, `Ngọc Bảo`)."""
    n = len(female)
    older = birth_year < 1970
    mid_age = (birth_year >= 1970) & (birth_year < 1990)
    p_trad = np.where(
        female,
        np.where(older, 0.75, np.where(mid_age, 0.5, 0.25)),
        np.where(older, 0.6, np.where(mid_age, 0.4, 0.2)),
    )
    trad = rng.random(n) < p_trad
    male_mid = np.array([_MID[m] for m in MIDDLE_MALE])
    female_mid = np.array([_MID[m] for m in MIDDLE_FEMALE])
    modern = np.where(
        female,
        female_mid[rng.choice(len(female_mid), n, p=_zipf(len(female_mid)))],
        male_mid[rng.choice(len(male_mid), n, p=_zipf(len(male_mid)))],
    )
    middle1 = np.where(trad, np.where(female, _MID["Thị"], _MID["Văn"]), modern).astype(np.int16)
    two = rng.random(n) < 0.12
    second = np.where(
        female,
        female_mid[rng.choice(len(female_mid), n, p=_zipf(len(female_mid)))],
        male_mid[rng.choice(len(male_mid), n, p=_zipf(len(male_mid)))],
    )
    # a second middle name follows a traditional one (Thị Ngọc) or another (Ngọc Bảo), never repeats it
    middle2 = np.where(two & (second != middle1), second, 0).astype(np.int16)
    male_giv = np.array([_GIV[g] for g in GIVEN_MALE])
    female_giv = np.array([_GIV[g] for g in GIVEN_FEMALE])
    given = np.where(
        female,
        female_giv[rng.choice(len(female_giv), n, p=_zipf(len(female_giv), 0.8))],
        male_giv[rng.choice(len(male_giv), n, p=_zipf(len(male_giv), 0.8))],
    ).astype(np.int16)
    return middle1, middle2, given


def foreign_names(rng: np.random.Generator, nationality: np.ndarray):
    """(family, given) indices for foreigners of the given FOREIGN indices; no middle name."""
    fam = np.zeros(len(nationality), dtype=np.int16)
    giv = np.zeros(len(nationality), dtype=np.int16)
    for k, (_, _, families, givens) in enumerate(FOREIGN):
        m = nationality == k
        fam[m] = np.array([_FAM[f] for f in families])[rng.integers(0, len(families), int(m.sum()))]
        giv[m] = np.array([_GIV[g] for g in givens])[rng.integers(0, len(givens), int(m.sum()))]
    return fam, giv
