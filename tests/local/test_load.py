"""The load tool's arithmetic and checks, by hand-computed values, and every check tripped by a
run that breaks it (no timing is asserted: the samples are made here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from components.routes import load_routes
from local.load import (
    ALL_SCOPES,
    READ_SCOPES,
    SIZES,
    Mix,
    Sample,
    hostile_checks,
    kill_checks,
    lost_writes,
    outage_checks,
    percentile,
    run,
    sigterm_checks,
    steady_checks,
    summarize,
    table,
)

ROOT = Path(__file__).resolve().parents[2]


def sample(start: float, end: float, status: int, **kw: object) -> Sample:
    return Sample("front", str(kw.pop("label", "all")), start, end, status, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# arithmetic


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([15, 20, 35, 40, 50], 5, 15),  # nearest rank: ceil(0.05 * 5) = 1st
        ([15, 20, 35, 40, 50], 30, 20),  # ceil(1.5) = 2nd
        ([15, 20, 35, 40, 50], 40, 20),  # ceil(2.0) = 2nd
        ([15, 20, 35, 40, 50], 50, 35),  # ceil(2.5) = 3rd
        ([15, 20, 35, 40, 50], 100, 50),
        ([3, 1, 2], 50, 2),  # unsorted input
        ([7], 99, 7),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 201)), 99, 198),
    ],
)
def test_percentile_is_the_nearest_rank(values: list[float], q: float, expected: float) -> None:
    # The examples of the nearest-rank method (Wikipedia, "Percentile", worked examples).
    assert percentile(values, q) == expected


def test_percentile_of_nothing_and_bad_q() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match=r"q must be in \(0, 100\], got 0"):
        percentile([1.0], 0)


def test_summary_by_hand() -> None:
    samples = [
        sample(0.0, 0.010, 200),
        sample(0.5, 0.520, 201),
        sample(1.0, 1.030, 403, expected=(403,)),
        sample(1.5, 1.540, 502),
        sample(1.9, 2.000, 0),
    ]
    s = summarize(samples)
    assert s["requests"] == 5
    assert s["rps"] == 2.5  # 5 requests from 0.0 to 2.0 s
    assert s["p50_ms"] == 30.0  # latencies 10, 20, 30, 40, 100: 3rd
    assert s["p99_ms"] == 100.0
    assert s["max_ms"] == 100.0
    assert s["errors"] == 2  # the 502 and the refused connection
    assert s["unexpected"] == 2  # 403 was expected
    assert s["statuses"] == {"0": 1, "200": 1, "201": 1, "403": 1, "502": 1}


def test_summary_of_nothing() -> None:
    assert summarize([])["requests"] == 0


# ---------------------------------------------------------------------------------------------
# checks: each passes on a good run and trips on a bad one


def test_steady_checks() -> None:
    good = summarize([sample(0, 1, 200), sample(0, 1, 403, expected=(403,))])
    assert all(c["ok"] for c in steady_checks(good, "front"))
    leaked = summarize([sample(0, 1, 200, expected=(403,))])  # a scope the token lacks got in
    assert [c["ok"] for c in steady_checks(leaked, "front")] == [True, False]
    broken = summarize([sample(0, 1, 500)])
    assert [c["ok"] for c in steady_checks(broken, "front")] == [False, False]


MARKS = (1.0, 1.2, 2.8, 3.0)
"""stopping, down (pg_ctl stop returned), starting, up (pg_ctl start returned)."""


def _outage_run(**changes: Sample) -> list[Sample]:
    run = {
        "before": sample(0.0, 0.1, 201, write_id="w1"),
        "down-write": sample(1.5, 1.6, 502, write_id="w2"),
        "down-fresh": sample(1.7, 1.8, 500, label="fresh", expected=(200,)),
        "after-first-ok": sample(3.2, 3.3, 201, write_id="w3"),
        "after": sample(4.0, 4.1, 201, write_id="w4"),
    }
    run.update(changes)
    return list(run.values())


def test_outage_checks_pass_a_good_run_and_measure_recovery() -> None:
    checks, recovery = outage_checks(_outage_run(), *MARKS)
    assert all(c["ok"] for c in checks), checks
    assert recovery == 0.3  # the first 2xx write after up ended at 3.3


@pytest.mark.parametrize(
    ("change", "tripped"),
    [
        ({"before": sample(0.0, 0.1, 500, write_id="w1")}, "errors only while PostgreSQL is down"),
        ({"after": sample(4.0, 4.1, 503, write_id="w4")}, "errors only while PostgreSQL is down"),
        (
            {"down-write": sample(1.5, 1.6, 404, write_id="w2")},
            "every error while it is down is a 5xx",
        ),
        (
            {"down-write": sample(1.5, 1.6, 201, write_id="w2")},
            "nothing let through while it was down",
        ),
        (
            {"down-fresh": sample(1.7, 1.8, 200, label="fresh", expected=(200,))},
            "nothing let through while it was down",
        ),
        (  # no request ran while it was down: the scenario proved nothing
            {
                "down-write": sample(0.5, 0.6, 201, write_id="w2"),
                "down-fresh": sample(0.7, 0.8, 200, label="fresh", expected=(200,)),
            },
            "nothing let through while it was down",
        ),
        (
            {
                "after-first-ok": sample(3.2, 3.3, 502, write_id="w3"),
                "after": sample(4.0, 4.1, 502, write_id="w4"),
            },
            "recovered after it came back",
        ),
    ],
)
def test_outage_checks_trip(change: dict[str, Sample], tripped: str) -> None:
    checks, _ = outage_checks(_outage_run(**change), *MARKS)
    failed = [c["name"] for c in checks if not c["ok"]]
    assert any(name.startswith(tripped) for name in failed), checks


def test_sigterm_checks() -> None:
    held = [sample(0.8, 1.5, 200, label="held", expected=(200,))]  # inside the server at 1.0
    good = [sample(0.9, 1.2, 200), sample(1.5, 1.5, 0)]  # after exit (1.3): refused
    assert all(c["ok"] for c in sigterm_checks(good, held, 1.0, 1.3, 0))
    names = lambda checks: [c["name"] for c in checks if not c["ok"]]  # noqa: E731
    cut = [sample(0.8, 1.2, -1, label="held", expected=(200,))]
    assert names(sigterm_checks(good, cut, 1.0, 1.3, 0)) == [
        "requests in flight at SIGTERM complete"
    ]
    early = [sample(0.1, 0.2, 200, label="held", expected=(200,))]  # done before the signal
    assert names(sigterm_checks(good, early, 1.0, 1.3, 0)) == [
        "requests in flight at SIGTERM complete"
    ]
    assert names(sigterm_checks(good, [], 1.0, 1.3, 0)) == [
        "requests in flight at SIGTERM complete"
    ]
    served = [sample(0.9, 1.2, 200), sample(1.5, 1.6, 200)]
    assert names(sigterm_checks(served, held, 1.0, 1.3, 0)) == ["requests after exit are refused"]
    nothing_after = [sample(0.9, 1.2, 200)]
    assert names(sigterm_checks(nothing_after, held, 1.0, 1.3, 0)) == [
        "requests after exit are refused"
    ]
    assert names(sigterm_checks(good, held, 1.0, 1.3, 1)) == ["exit status 0"]


def test_kill_checks() -> None:
    good = [sample(0.0, 0.1, 201), sample(0.9, 1.1, 502), sample(1.2, 1.4, 201)]
    assert all(c["ok"] for c in kill_checks(good, 1.0, 1, 2))
    names = lambda checks: [c["name"] for c in checks if not c["ok"]]  # noqa: E731
    unharmed = [sample(0.9, 1.1, 201), sample(1.2, 1.4, 201)]
    assert names(kill_checks(unharmed, 1.0, 1, 2)) == [
        "the request in flight got 502/500 from the front door"
    ]
    still_broken = [sample(0.9, 1.1, 502), sample(1.2, 1.4, 502)]
    assert names(kill_checks(still_broken, 1.0, 1, 2)) == ["later requests succeed"]
    assert names(kill_checks(good, 1.0, 1, 1)) == [
        "the next invocation started a fresh runtime (a new init)"
    ]


def test_hostile_checks() -> None:
    good = [sample(0, 1, 401, expected=(401,)), sample(0, 1, 413, expected=(413,))]
    alive = {"handler environments": True, "server": True}
    assert all(c["ok"] for c in hostile_checks(good, alive))
    names = lambda checks: [c["name"] for c in checks if not c["ok"]]  # noqa: E731
    assert names(hostile_checks([*good, sample(0, 1, 200)], alive)) == [
        "no hostile request allowed"
    ]
    assert names(hostile_checks([*good, sample(0, 1, 500)], alive)) == [
        "no 5xx from the front door"
    ]
    assert names(hostile_checks(good, {**alive, "server": False})) == [
        "every process alive afterwards"
    ]
    wrong = sample(0, 1, 404, expected=(403,))  # refused, but not as API Gateway refuses it
    assert names(hostile_checks([*good, wrong], alive)) == [
        "each refused as API Gateway refuses it (401, 403, 413, ...)"
    ]


def test_lost_writes_counts() -> None:
    assert lost_writes(["a", "b", "c", "c"], ["a", "c", "z"]) == {
        "acknowledged": 3,
        "found": 2,
        "lost": 1,
        "lost_ids": ["b"],
    }


# ---------------------------------------------------------------------------------------------
# the mix's expectations come from the route table


def test_the_mix_expects_what_the_route_table_grants() -> None:
    """Every call of the mix expects 403 exactly when the route table's scope for its route is
    not among its token's scopes."""
    routes = load_routes(ROOT / "app" / "routes.json")
    tokens = {
        "all": ("t-all", ALL_SCOPES),
        "read": ("t-read", READ_SCOPES),
        "devices": ("t-dev", ("devices:read", "devices:write")),
    }
    scopes = dict(tokens.values())
    calls = Mix(tokens, "x", "seed").calls(200)
    seen = set()
    for call in calls:
        path = call.path
        route = next(
            r
            for r in routes
            if r.method == call.method
            and len(r.segments) == len(path.strip("/").split("/"))
            and all(
                seg.startswith("{") or seg == got
                for seg, got in zip(r.segments, path.strip("/").split("/"), strict=True)
            )
        )
        granted = route.scope in scopes[str(call.token)]
        assert (403 in call.expected) == (not granted), (call, route)
        seen.add((route.method, route.path, granted))
    assert {(m, p) for m, p, _ in seen} >= {("GET", "/devices"), ("POST", "/devices")}
    assert any(not g for _, _, g in seen) and any(g for _, _, g in seen)


def test_table_lists_every_scenario_and_check() -> None:
    results = {
        "scenarios": {"steady-front": summarize([sample(0, 1, 200)])},
        "checks": [{"scenario": "steady-front", "name": "no errors", "ok": False, "detail": "1"}],
    }
    text = table(results)
    assert "steady-front" in text and "[FAILED] steady-front: no errors (1)" in text
    json.dumps(results)  # the results are JSON as they are


# ---------------------------------------------------------------------------------------------
# the scenarios, once, small


@pytest.mark.postgres
@pytest.mark.rie
def test_the_fault_scenarios_at_a_small_size() -> None:
    """Every scenario on a local stack of its own; every check must hold. What is asserted is
    behaviour (statuses, exit codes, rows found), never a timing."""
    dist = Path(os.environ.get("RUNTIME_DIST", ROOT / "dist"))
    if not (dist / "manifest.json").is_file():
        message = f"{dist}/manifest.json missing: run `make build` (make test does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    results = run(SIZES["small"], pg_port=55448, dist=dist, say=lambda _: None)
    failed = [c for c in results["checks"] if not c["ok"]]
    assert not failed, table(results)
    assert set(results["scenarios"]) == {
        "steady-front",
        "steady-server",
        "lambda-killed",
        "hostile",
        "postgres-restart",
        "server-sigterm",
    }
    assert results["writes"]["acknowledged"] > 0
    assert results["writes"]["lost"] == 0
