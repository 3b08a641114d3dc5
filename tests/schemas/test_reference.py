"""Reference data: the 31 provincial units, the policy items, and a deployment's own provinces file."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import reference, rules, samples
from schemas.errors import ReferenceDataError


def test_the_31_provincial_units() -> None:
    provinces = reference.provinces()
    assert len(provinces) == 31
    for code, province in provinces.items():
        assert province.code == code
        assert len(code) == 6 and code.isdigit() and code.endswith("0000")
        assert province.name_zh and province.name_en
    assert provinces["320000"].name_zh == "江苏省"
    assert provinces["650000"].name_en == "Xinjiang"


def test_policy_items_keep_quoted_chinese_names() -> None:
    items = reference.policy_items()
    assert "PROVINCIAL_PLAN_ISSUED" in items
    assert items["ONE_OLD_ONE_SMALL_SOLUTION"].name_zh == '"一老一小"整体解决方案制定'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "provinces.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_deployment_adds_a_unit_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = reference.PROVINCES_FILE.read_text(encoding="utf-8")
    path = _write(tmp_path, shipped + "710000,台湾省,Taiwan\n")
    monkeypatch.setenv(reference.PROVINCES_ENV, str(path))
    assert len(reference.provinces()) == 32
    record = samples.funding(province="710000")
    assert rules.check("funding", record) == []
    monkeypatch.delenv(reference.PROVINCES_ENV)
    assert [p.reason for p in rules.check("funding", record)] == ["bad_province_code"]


def test_a_path_argument_wins(tmp_path: Path) -> None:
    path = _write(tmp_path, "code,name_zh,name_en\n110000,北京市,Beijing\n")
    assert list(reference.provinces(path)) == ["110000"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("code,name_zh,name_en\n1100,北京市,Beijing\n", r":2: province code must be 6 digits"),
        (
            "code,name_zh,name_en\n110000,北京市,Beijing\n110000,北京,Beijing\n",
            r":3: province code 110000 appears twice",
        ),
        ("code,name_zh,name_en\n110000,,Beijing\n", r":2: provinces row needs code,name_zh,name_en"),
    ],
)
def test_a_bad_provinces_file_says_where(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reference.provinces(_write(tmp_path, text))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match=r"nope\.csv"):
        reference.provinces(tmp_path / "nope.csv")
