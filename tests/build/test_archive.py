from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from build import archive
from build.archive import (
    MAX_UNZIPPED,
    MAX_ZIPPED,
    check_limits,
    source_date_epoch,
    unzipped_size,
    write_zip,
)
from build.errors import ConfigError, LimitError


def _tree(root: Path, mtime: int) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "bootstrap").write_bytes(b"\x7fELF" + b"x" * 5000)
    (root / "lib" / "libb-12345678.so.1").write_bytes(b"b" * 3000)
    (root / "lib" / "liba-12345678.so.2").write_bytes(b"a" * 3000)
    for p in root.rglob("*"):
        os.utime(p, (mtime, mtime))
    (root / "bootstrap").chmod(0o700)
    return root


def test_two_zips_of_the_same_files_are_byte_identical(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    one = _tree(tmp_path / "one", 1_600_000_000)
    two = _tree(tmp_path / "two", 1_700_000_000)
    write_zip(one, tmp_path / "one.zip")
    write_zip(two, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_entries_sorted_modes_and_timestamps(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    write_zip(_tree(tmp_path / "t", 1_600_000_000), tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as z:
        infos = z.infolist()
    assert [i.filename for i in infos] == [
        "bootstrap",
        "lib/liba-12345678.so.2",
        "lib/libb-12345678.so.1",
    ]
    assert [(i.external_attr >> 16) & 0o777 for i in infos] == [0o755, 0o644, 0o644]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.extra for i in infos} == {b""}
    assert {i.create_system for i in infos} == {3}
    assert unzipped_size(tmp_path / "t.zip") == 11004


def test_source_date_epoch_is_used(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14T22:13:20Z
    write_zip(_tree(tmp_path / "t", 1), tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as z:
        assert z.infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)


@pytest.mark.parametrize(
    ("value", "expected"), [("", 315532800), ("0", 315532800), ("1700000000", 1700000000)]
)
def test_source_date_epoch_values(value, expected):
    assert source_date_epoch({"SOURCE_DATE_EPOCH": value}) == expected


def test_bad_source_date_epoch():
    with pytest.raises(
        ConfigError, match=r"SOURCE_DATE_EPOCH must be whole seconds .*got 'yesterday'"
    ):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def test_limits():
    check_limits("handler", MAX_ZIPPED, MAX_UNZIPPED)
    with pytest.raises(
        LimitError,
        match=r"handler.zip is 50.0 MiB zipped, over Lambda's 50 MiB .*"
        r"upload it through S3",
    ):
        check_limits("handler", MAX_ZIPPED + 1, MAX_UNZIPPED)
    with pytest.raises(
        LimitError,
        match=r"timer.zip is 250.0 MiB unzipped, over Lambda's 250 MiB "
        r"limit; shrink",
    ):
        check_limits("timer", 1, MAX_UNZIPPED + 1)


def test_zip_of_a_real_over_limit_tree_is_refused(tmp_path: Path, monkeypatch):
    # A small tree against a lowered limit: the same check the build runs on each zip.
    monkeypatch.setattr("build.archive.MAX_ZIPPED", 1000)
    tree = _tree(tmp_path / "t", 1)
    (tree / "lib" / "random.so").write_bytes(os.urandom(4000))
    write_zip(tree, tmp_path / "t.zip")

    with pytest.raises(LimitError, match="over Lambda's 0 MiB"):
        archive.check_limits("t", (tmp_path / "t.zip").stat().st_size, 1)
    shutil.rmtree(tree)
