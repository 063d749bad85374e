"""The benchmark's arithmetic, results files and tables: fast, no compiling, no timing asserted."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from bench import cold, coldstart, noop, plantime, report, results, size, stats, table
from bench.measure import combine, timed


def test_summarize_median_min_max() -> None:
    s = stats.summarize([3.0, 1.0, 2.0, 10.0])
    assert (s.median, s.min, s.max, s.n) == (2.5, 1.0, 10.0, 4)
    with pytest.raises(ValueError, match="at least one"):
        stats.summarize([])


def test_pair_ratios_pair_by_position_and_drop_unpaired() -> None:
    assert stats.pair_ratios([2.0, 6.0, 9.0], [1.0, 3.0]) == [2.0, 2.0]
    assert stats.pair_ratios([1.0], [0.0]) == [float("inf")]
    summary = stats.ratio_summary([4.0, 9.0, 2.0], [2.0, 3.0, 2.0])
    assert summary is not None
    assert (summary.median, summary.min, summary.max) == (2.0, 1.0, 3.0)
    assert stats.ratio_summary([], [1.0]) is None


def test_change_and_format() -> None:
    assert stats.change(1.1, 1.0) == pytest.approx(0.1)
    assert stats.change(1.0, None) is None
    assert stats.change(1.0, 0) is None
    assert stats.changes({"a": 2.0, "b": 1.0}, {"a": 4.0}) == {"a": -0.5, "b": None}
    assert stats.format_change(0.042) == "+4.2%"
    assert stats.format_change(None) == "new"


def test_results_write_returns_previous_and_compares(tmp_path: Path) -> None:
    first = results.document(
        "plan", machine={"nproc": 2}, commands={}, runs={}, medians={"dev.seconds": 1.0}
    )
    path, previous = results.write(tmp_path, first)
    assert previous is None
    assert json.loads(path.read_text())["medians"] == {"dev.seconds": 1.0}
    second = results.document(
        "plan", machine={}, commands={}, runs={}, medians={"dev.seconds": 1.5, "prod.seconds": 2.0}
    )
    _, previous = results.write(tmp_path, second)
    assert previous is not None
    lines = results.comparison(second, previous)
    assert any("dev.seconds: 1.5 (was 1, +50.0%)" in line for line in lines)
    assert any("prod.seconds: 2 (was -, new)" in line for line in lines)
    assert set(json.loads(path.read_text())) == {
        "version",
        "name",
        "date",
        "machine",
        "workspace",
        "commands",
        "runs",
        "medians",
        "extra",
    }


def test_unreadable_previous_results_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text("{not json")
    assert results.load(tmp_path / "plan.json") is None
    assert results.comparison({"medians": {}}, None) == ["(no previous results to compare with)"]


def test_timed_measures_a_child_and_its_exit_code(tmp_path: Path) -> None:
    run = timed(
        [sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"],
        cwd=tmp_path,
        log=tmp_path / "log",
    )
    assert run.exit_code == 3
    assert run.max_rss_kib > 0
    assert "hi" in (tmp_path / "log").read_text()
    both = combine([run, timed(["true"], cwd=tmp_path, log=tmp_path / "log")])
    assert both.exit_code == 3
    assert both.seconds >= run.seconds


def test_measure_zip_share_of_bundled_libraries(tmp_path: Path) -> None:
    path = tmp_path / "f.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("bootstrap", b"b" * 300)
        z.writestr("lib/libpq-12345678.so.5", b"l" * 100)
    sizes = size.measure_zip(path)
    assert sizes["unzipped"] == 400
    assert sizes["lib_unzipped"] == 100
    assert sizes["lib_share_unzipped"] == 0.25
    assert sizes["libs"] == ["lib/libpq-12345678.so.5"]


def test_flatten_metrics() -> None:
    data = {"functions": {"handler": {"init_ms": [30, 10, 20]}}, "ok": True, "server": 1.5}
    assert coldstart.flatten(data) == {"functions.handler.init_ms": 20.0, "server": 1.5}


def test_render_plain_and_markdown() -> None:
    assert table.render(("a", "bb"), [("xxx", "y")]) == "a    bb\nxxx  y"
    md = table.render(("a", "bb"), [("xxx", "y")], markdown=True).splitlines()
    assert md == ["| a   | bb |", "| --- | -- |", "| xxx | y  |"]


def _doc(name: str, medians: dict, runs: dict, extra: dict) -> dict:
    return results.document(name, machine={}, commands={}, runs=runs, medians=medians, extra=extra)


def test_cold_targets_met_and_missed() -> None:
    run = {
        "exit_code": 0,
        "seconds": 1.0,
        "user_seconds": 1.5,
        "system_seconds": 0.5,
        "max_rss_kib": 1024,
    }
    runs = {v: [run] for v in ("ours", "cargo", "per-function")}
    met = _doc(
        cold.NAME,
        {"ours.seconds": 100.0, "cargo.seconds": 98.0, "per-function.seconds": 400.0},
        runs,
        {"ratios_vs_ours": {"cargo": {"median": 0.98}, "per-function": {"median": 4.0}}},
    )
    assert [t.met for t in cold.targets(met)] == [True, True]
    missed = _doc(
        cold.NAME,
        {"ours.seconds": 110.0, "cargo.seconds": 100.0, "per-function.seconds": 220.0},
        runs,
        {"ratios_vs_ours": {"cargo": {"median": 100 / 110}, "per-function": {"median": 2.0}}},
    )
    marks = cold.targets(missed)
    assert [t.met for t in marks] == [False, False]
    assert "+10.0%" in marks[0].measured
    assert [t.met for t in cold.targets(_doc(cold.NAME, {}, {}, {}))] == [None, None]
    assert report.text(met)  # renders


def test_noop_target_needs_identical_bytes() -> None:
    fast_same = _doc(noop.NAME, {"ours.seconds": 0.5}, {"ours": [{"changed": []}]}, {})
    fast_changed = _doc(
        noop.NAME, {"ours.seconds": 0.5}, {"ours": [{"changed": ["handler.zip"]}]}, {}
    )
    slow = _doc(noop.NAME, {"ours.seconds": 2.5}, {"ours": [{"changed": []}]}, {})
    assert [noop.targets(d)[0].met for d in (fast_same, fast_changed, slow)] == [True, False, False]


def test_plan_targets_per_stack() -> None:
    doc = _doc(
        plantime.NAME, {"dev.seconds": 1.2, "prod.seconds": 2.4}, {"dev": [], "prod": []}, {}
    )
    assert [(t.name, t.met) for t in plantime.targets(doc)] == [
        ("offline plan of dev", True),
        ("offline plan of prod", False),
    ]


def test_readme_section_is_regenerated(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START}\nold\n{report.END}\noutro\n")
    results.write(
        tmp_path,
        _doc(
            plantime.NAME,
            {"dev.seconds": 1.2},
            {"dev": [{"exit_code": 0, "seconds": 1.2, "max_rss_kib": 2048}]},
            {"dev.summary": {"median": 1.2, "min": 1.1, "max": 1.3, "n": 1}},
        ),
    )
    assert report.update_readme(readme, tmp_path)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert "old" not in text and "| dev " in text


def test_noop_stages_of_the_last_build_in_the_log(tmp_path: Path) -> None:
    log = tmp_path / "noop-ours.log"
    log.write_text(
        "$ (cd /r && python -m build all)\n==> compile (9.0s)\n"
        "$ (cd /r && python -m build all)\n   Compiling x\n==> cargo metadata (0.1s)\n"
        "==> handler: audit, bundle, zip (0.4s)\n==> wrote d/manifest.json (1.3s in all)\n"
    )
    assert noop.stages(log) == [
        ("cargo metadata", 0.1),
        ("handler: audit, bundle, zip", 0.4),
        ("wrote d/manifest.json", 1.3),
    ]
