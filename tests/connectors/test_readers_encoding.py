"""Bug 3 of issue 9: a CSV that is neither UTF-8 nor GB18030 ends in one clear line, never a traceback,
and nothing is sent. On main the publisher died with a UnicodeDecodeError traceback."""

from __future__ import annotations

import codecs
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.errors import ReaderError
from connectors.readers import read_rows

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "connectors" / "samples" / "facility_320000.csv"
XLSX_HEAD = b"PK\x03\x04\x14\x00\x06\x00"


def _sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def _publish_check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSHUB_")}
    return subprocess.run([sys.executable, "-m", "cshub.cli", "publish", "--province", "320000", "--kind", "facility",
                           str(path), "--check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_utf16_unicode_text_from_excel_is_read(tmp_path: Path) -> None:
    """Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated."""
    path = tmp_path / "unicode.csv"
    tabbed = "\n".join(line.replace(",", "\t") for line in _sample_text().splitlines()) + "\n"
    path.write_bytes(codecs.BOM_UTF16_LE + tabbed.encode("utf-16-le"))
    assert [r for _n, r in read_rows(path, "facility")] == [r for _n, r in read_rows(SAMPLE, "facility")]


def test_gb18030_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "gb.csv"
    path.write_bytes(_sample_text().encode("gb18030"))
    assert [r for _n, r in read_rows(path, "facility")] == [r for _n, r in read_rows(SAMPLE, "facility")]


@pytest.mark.parametrize("name, content, message", [
    ("renamed.csv", XLSX_HEAD + b"\x00" * 64, "this is an Excel workbook"),
    ("utf16-no-bom.csv", "报告编号,revision\n".encode("utf-16-le"), "line 1: NUL bytes"),
    ("latin1.csv", None, "line 3: byte 0xe9 is not UTF-8 text, though the rest of the file is"),
])
def test_unreadable_text_is_one_clear_error_before_any_row(tmp_path: Path, name: str, content: bytes | None,
                                                           message: str) -> None:
    path = tmp_path / name
    if content is None:  # one stray Latin-1 byte (é) in an otherwise UTF-8 file with Chinese names
        lines = _sample_text().encode("utf-8").split(b"\n")
        lines[2] = lines[2].replace(b"Ms", b"M\xe9s", 1) if b"Ms" in lines[2] else lines[2] + b"\xe9"
        content = b"\n".join(lines)
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=message) as caught:
        read_rows(path, "facility")  # raised here, not half-way through the rows
    assert "CSV UTF-8" in (caught.value.advice or "")
    out = _publish_check(path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"cshub publish: {path}") and message in out.stderr


def test_a_real_xlsx_still_reads(tmp_path: Path) -> None:
    xlsx = sorted((ROOT / "tests").rglob("*.xlsx"))
    if not xlsx:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        for line in _sample_text().splitlines():
            ws.append(line.split(","))
        wb.save(tmp_path / "book.xlsx")
        xlsx = [tmp_path / "book.xlsx"]
    shutil.copy(xlsx[0], tmp_path / "copy.xlsx")
    assert list(read_rows(tmp_path / "copy.xlsx", "facility"))
