"""Outputs for the people downstream: the national platforms' upload files and the wards' field-check lists.

* `upload_frame(store, kind)`: cleaned, linked records in the fixed upload layout (`UPLOAD_COLUMNS`,
  documented in docs/upload-layout.md): one row per event (a dose reported by two sites once), the
  person's confirmed birth date and ID where the link corrected the record, Vietnamese labels, dates
  `dd/mm/yyyy`. Records still waiting for review are not uploaded: they are on the correction list.
* `correction_list(store, ward)`: what a ward team must check in the field (the 2021 workflow: health
  station lists → ward team checks → update), as XLSX with Vietnamese headers: conflicting birth dates
  or IDs, records waiting for review, addresses that could not be placed, and the ward's open quarantine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from risk.clean.reasons import REASONS
from risk.ingest.corrections import write_xlsx
from risk.ingest.quality import open_quarantine
from risk.store import Store

SEX_VI = {"M": "Nam", "F": "Nữ"}
VACCINE_VI = {
    "astrazeneca": "AstraZeneca",
    "pfizer": "Pfizer (Comirnaty)",
    "moderna": "Moderna (Spikevax)",
    "sinopharm": "Sinopharm (Vero Cell)",
    "sputnik_v": "Sputnik V",
    "abdala": "Abdala",
    "janssen": "Janssen",
}
DOSE_VI = {
    "mui_1": "Mũi 1",
    "mui_2": "Mũi 2",
    "bo_sung": "Mũi bổ sung",
    "nhac_lai_1": "Mũi nhắc lại lần 1",
    "nhac_lai_2": "Mũi nhắc lại lần 2",
}
RESULT_VI = {"positive": "Dương tính", "negative": "Âm tính"}
TEST_VI = {"rt_pcr": "RT-PCR", "rapid_antigen": "Test nhanh kháng nguyên"}
FOUND_VI = {"community": "Cộng đồng", "quarantine": "Khu cách ly", "lockdown": "Khu phong tỏa"}
ISOLATION_VI = {"home": "Tại nhà", "facility": "Cách ly tập trung", "hospital": "Bệnh viện"}
OUTCOME_VI = {"recovered": "Khỏi bệnh", "died": "Tử vong", "under_treatment": "Đang điều trị"}

PERSON_COLUMNS = (
    "STT",
    "MA_BAN_GHI",
    "HO_TEN",
    "NGAY_SINH",
    "GIOI_TINH",
    "SO_CCCD",
    "SO_CMND_HO_CHIEU",
    "SO_DIEN_THOAI",
    "MA_DON_VI_HANH_CHINH",
    "DIA_CHI",
)
UPLOAD_COLUMNS: dict[str, tuple[str, ...]] = {
    "dose": (*PERSON_COLUMNS, "TEN_VAC_XIN", "MUI_TIEM", "NGAY_TIEM", "NOI_TIEM", "NGUON_BAO_CAO"),
    "test": (
        *PERSON_COLUMNS,
        "LOAI_XET_NGHIEM",
        "MAU_GOP",
        "NGAY_LAY_MAU",
        "KET_QUA",
        "NOI_XET_NGHIEM",
        "NGUON_BAO_CAO",
    ),
    "case": (
        *PERSON_COLUMNS,
        "MA_CA_BENH",
        "NGAY_BAO_CAO",
        "NOI_PHAT_HIEN",
        "HINH_THUC_CACH_LY",
        "TINH_TRANG",
        "NGUON_BAO_CAO",
    ),
    "contact": (
        *PERSON_COLUMNS,
        "MA_F1",
        "MA_F0",
        "NGAY_TIEP_XUC",
        "NGAY_BAT_DAU_CACH_LY",
        "NOI_CACH_LY",
        "NGUON_BAO_CAO",
    ),
}
# Issues a ward team checks in the field (link flags and record codes).
FIELD_CHECK = (
    "dob_conflict",
    "id_conflict",
    "link_review",
    "address_unmatched",
    "address_ambiguous",
    "id_inconsistent",
    "address_mojibake",
)
CORRECTION_HEADERS = (
    "STT",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số CCCD/CMND",
    "Số điện thoại",
    "Địa chỉ",
    "Nguồn dữ liệu",
    "Tệp",
    "Dòng",
    "Vấn đề cần kiểm tra",
    "Giá trị theo hồ sơ nhân khẩu",
    "Kết quả kiểm tra thực tế",
    "Người kiểm tra",
)


def _dmy(s: pd.Series, precision: pd.Series | None = None) -> np.ndarray:
    d = pd.to_datetime(s)
    out = d.dt.strftime("%d/%m/%Y").fillna("").to_numpy(dtype=object)
    if precision is not None:
        year = d.dt.strftime("%Y").fillna("").to_numpy(dtype=object)
        out = np.where(precision.fillna("").to_numpy(dtype=object) == "year", year, out)
    return out


def upload_frame(store: Store, kind: str) -> pd.DataFrame:
    """The upload file of one kind (see the module docstring)."""
    if kind not in UPLOAD_COLUMNS:
        raise ValueError(f"no upload layout for {kind!r}; known: {', '.join(UPLOAD_COLUMNS)}")
    rec = store.read_table("records", filters=[("kind", "=", kind)])
    links = store.read_table("links", columns=["record_id", "person_id", "same_as"])
    persons = store.read_table(
        "persons",
        columns=["person_id", "full_name", "birth_date", "birth_year", "sex", "id_number", "id_kind"],
    )
    r = rec.merge(links, on="record_id", how="inner")
    r = r[r["same_as"].isna()]
    sources = r.groupby("record_id")["source"].first()
    dup = links.dropna(subset=["same_as"]).merge(rec[["record_id", "source"]], on="record_id")
    also = dup.groupby("same_as")["source"].agg(lambda s: ",".join(sorted(set(s))))
    r = r.merge(persons.add_prefix("p_"), left_on="person_id", right_on="p_person_id", how="left")
    day = r["p_birth_date"].notna()
    dob = np.where(day, _dmy(r["p_birth_date"]), _dmy(r["birth_date"], r["birth_precision"]))
    cccd = np.where(
        r["p_id_kind"].fillna(r["id_kind"]) == "cccd", r["p_id_number"].fillna(r["id_number"]), ""
    )
    other = np.where(r["id_kind"].isin(["cmnd", "passport"]), r["id_number"], "")
    source = r["source"].astype(str) + r["record_id"].map(also).fillna("").map(lambda s: f",{s}" if s else "")
    out = pd.DataFrame(
        {
            "STT": np.arange(1, len(r) + 1),
            "MA_BAN_GHI": r["record_id"].to_numpy(),
            "HO_TEN": r["full_name"].to_numpy(),
            "NGAY_SINH": dob,
            "GIOI_TINH": r["sex"].map(SEX_VI).fillna("").to_numpy(),
            "SO_CCCD": cccd,
            "SO_CMND_HO_CHIEU": other,
            "SO_DIEN_THOAI": r["phone"].fillna("").to_numpy(),
            "MA_DON_VI_HANH_CHINH": r["ward_id"].fillna("").str.split(":").str[-1].fillna("").to_numpy(),
            "DIA_CHI": r["address_raw"].fillna("").to_numpy(),
            "NGUON_BAO_CAO": source.to_numpy(),
        }
    )
    del sources
    if kind == "dose":
        out["TEN_VAC_XIN"] = r["vaccine"].map(VACCINE_VI).fillna(r["vaccine"]).to_numpy()
        out["MUI_TIEM"] = r["dose_kind"].map(DOSE_VI).fillna("").to_numpy()
        out["NGAY_TIEM"] = _dmy(r["event_date"])
        out["NOI_TIEM"] = r["site"].fillna("").to_numpy()
    elif kind == "test":
        out["LOAI_XET_NGHIEM"] = r["test_type"].map(TEST_VI).fillna("").to_numpy()
        out["MAU_GOP"] = np.where(r["pooled"].fillna(False).astype(bool), "Mẫu gộp", "Mẫu đơn")
        out["NGAY_LAY_MAU"] = _dmy(r["event_date"])
        out["KET_QUA"] = r["result"].map(RESULT_VI).fillna("").to_numpy()
        out["NOI_XET_NGHIEM"] = r["site"].fillna("").to_numpy()
    elif kind == "case":
        out["MA_CA_BENH"] = r["source_ref"].fillna("").to_numpy()
        out["NGAY_BAO_CAO"] = _dmy(r["event_date"])
        out["NOI_PHAT_HIEN"] = r["found_in"].map(FOUND_VI).fillna("").to_numpy()
        out["HINH_THUC_CACH_LY"] = r["isolation"].map(ISOLATION_VI).fillna("").to_numpy()
        out["TINH_TRANG"] = r["outcome"].map(OUTCOME_VI).fillna("").to_numpy()
    else:
        out["MA_F1"] = r["source_ref"].fillna("").to_numpy()
        out["MA_F0"] = r["contact_of"].fillna("").to_numpy()
        out["NGAY_TIEP_XUC"] = _dmy(r["exposure_date"])
        out["NGAY_BAT_DAU_CACH_LY"] = _dmy(r["event_date"])
        out["NOI_CACH_LY"] = r["isolation"].map(ISOLATION_VI).fillna("").to_numpy()
    return out[list(UPLOAD_COLUMNS[kind])]


def export_upload(store: Store, kind: str, path: str | Path) -> int:
    """Write the upload file (CSV UTF-8 with BOM, or XLSX by the suffix); returns the rows written."""
    path = Path(path)
    frame = upload_frame(store, kind)
    if path.suffix.lower() == ".xlsx":
        write_xlsx(frame, path, sheet=kind)
    else:
        path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return len(frame)


def correction_list(store: Store, ward: str) -> pd.DataFrame:
    """Records of a ward (`hcmc-2025:26740`) that need a field check, with Vietnamese headers."""
    rec = store.read_table(
        "records",
        columns=[
            "record_id",
            "source",
            "batch_id",
            "row_number",
            "full_name",
            "birth_date",
            "birth_precision",
            "sex",
            "id_number",
            "phone",
            "address_raw",
            "corrections",
        ],
        filters=[("ward_id", "=", ward)],
    )
    links = (
        store.read_table(
            "links",
            columns=["record_id", "person_id", "flags"],
            filters=[("record_id", "in", rec["record_id"].tolist())],
        )
        if len(rec)
        else pd.DataFrame(columns=["record_id", "person_id", "flags"])
    )
    review = (
        store.read_table(
            "link_reviews", columns=["record_id"], filters=[("record_id", "in", rec["record_id"].tolist())]
        )
        if len(rec)
        else pd.DataFrame(columns=["record_id"])
    )
    files = {b.batch_id: b.file_name for b in store.list_batches()}
    r = rec.merge(links, on="record_id", how="left")
    codes = (r["flags"].fillna("") + ";" + r["corrections"].fillna("")).str.split(";")
    issues = codes.map(lambda cs: [c for c in cs if c in FIELD_CHECK])
    in_review = r["record_id"].isin(review["record_id"]).to_numpy()
    issues = [([*i, "link_review"] if rv else i) for i, rv in zip(issues, in_review, strict=True)]
    keep = np.array([bool(i) for i in issues], dtype=bool)
    r = r[keep]
    issues = [i for i, k in zip(issues, keep, strict=True) if k]
    persons = (
        store.read_table(
            "persons",
            columns=["person_id", "birth_date", "id_number"],
            filters=[("person_id", "in", r["person_id"].dropna().astype("int64").tolist())],
        )
        if len(r)
        else pd.DataFrame(columns=["person_id", "birth_date", "id_number"])
    )
    pp = r[["person_id"]].merge(persons, on="person_id", how="left")
    known = [
        "; ".join(x for x in (f"ngày sinh {d}" if d else "", f"số giấy tờ {i}" if i else "") if x)
        for d, i in zip(_dmy(pp["birth_date"]), pp["id_number"].fillna(""), strict=True)
    ]
    rows = pd.DataFrame(
        {
            "Họ và tên": r["full_name"].to_numpy(),
            "Ngày sinh": _dmy(r["birth_date"], r["birth_precision"]),
            "Giới tính": r["sex"].map(SEX_VI).fillna("").to_numpy(),
            "Số CCCD/CMND": r["id_number"].fillna("").to_numpy(),
            "Số điện thoại": r["phone"].fillna("").to_numpy(),
            "Địa chỉ": r["address_raw"].fillna("").to_numpy(),
            "Nguồn dữ liệu": r["source"].to_numpy(),
            "Tệp": r["batch_id"].map(files).to_numpy(),
            "Dòng": r["row_number"].to_numpy(),
            "Vấn đề cần kiểm tra": ["; ".join(REASONS[c].vi for c in dict.fromkeys(i)) for i in issues],
            "Giá trị theo hồ sơ nhân khẩu": known,
        }
    )
    q = open_quarantine(store, ward=ward)
    if len(q):
        import orjson

        raw = [orjson.loads(x) if x.startswith("{") else {} for x in q["raw"]]

        def pick(o: dict, *names: str) -> str:
            for k, v in o.items():
                if any(n in k for n in names):
                    return str(v)
            return ""

        qrows = pd.DataFrame(
            {
                "Họ và tên": [pick(o, "tên", "ho_ten") for o in raw],
                "Ngày sinh": [pick(o, "sinh") for o in raw],
                "Giới tính": [pick(o, "Giới", "gioi") for o in raw],
                "Số CCCD/CMND": [pick(o, "CCCD", "CMND", "cccd", "cmnd") for o in raw],
                "Số điện thoại": [pick(o, "SĐT", "thoại", "sdt") for o in raw],
                "Địa chỉ": [pick(o, "Địa chỉ", "dia_chi") for o in raw],
                "Nguồn dữ liệu": q["source"].to_numpy(),
                "Tệp": q["file_name"].to_numpy(),
                "Dòng": q["row_number"].to_numpy(),
                "Vấn đề cần kiểm tra": [
                    "Dòng bị cách ly: "
                    + "; ".join(REASONS[c].vi if c in REASONS else c for c in s.split(";") if c)
                    for s in q["reasons"]
                ],
                "Giá trị theo hồ sơ nhân khẩu": "",
            }
        )
        rows = pd.concat([rows, qrows], ignore_index=True)
    rows.insert(0, "STT", np.arange(1, len(rows) + 1))
    rows["Kết quả kiểm tra thực tế"] = ""
    rows["Người kiểm tra"] = ""
    return rows[list(CORRECTION_HEADERS)]


def export_correction_list(store: Store, ward: str, path: str | Path) -> int:
    """The ward's correction list as XLSX (Vietnamese headers); returns the rows written."""
    frame = correction_list(store, ward)
    write_xlsx(
        frame,
        Path(path),
        sheet="Danh sách cần kiểm tra",
        widths={"Vấn đề cần kiểm tra": 45, "Địa chỉ": 45, "Họ và tên": 24},
    )
    return len(frame)
