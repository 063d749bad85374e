"""`python -m local load` (`make load`): the local stack under load, and its parts broken on
purpose, every request to 127.0.0.1, bounded in count and time.

Scenarios, in this order, on a stack of its own (its own PostgreSQL cluster and ports):

- ``steady``: the front door and the server, each with a mix of reads and writes from tokens of
  different scopes (a request a token's scopes do not cover must get 403, not succeed);
- ``lambda-killed``: the handler's runtime killed (SIGKILL) while it serves a request: that
  request gets 502 from the front door, and the next invocation in that environment starts a
  fresh runtime (a new init), as Lambda does after ``Runtime.ExitError``;
- ``hostile``: forged, expired, revoked and malformed tokens, oversized bodies, unknown routes:
  no 2xx, no 5xx, every process alive afterwards;
- ``postgres-restart``: PostgreSQL stopped under write load and started again: errors only while
  it is down and all of them 5xx; no request with a token never seen before is let through
  while the authorizer cannot check it; the recovery time after it is back;
- ``server-sigterm``: the server sent SIGTERM under load: the requests in flight complete, new
  connections are refused, it exits 0;
- at the end, every write acknowledged with 2xx is looked up in the database: lost writes are
  counted.

Results go to a JSON file and a table, as bench/ does; `checks` says which expectation held.
Tests check the arithmetic (tests/local/test_load.py), never a timing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from local.sandbox import SandboxError, free_port
from local.services import new_token
from local.stack import ROOT, LocalStack, Ports

ALL_SCOPES = ("commands:read", "commands:write", "devices:read", "devices:write", "images:read")
READ_SCOPES = ("commands:read", "devices:read", "images:read")
BODY_LIMIT = 10 * 1024 * 1024
"""API Gateway's payload limit (10 MB)."""


@dataclass(frozen=True)
class Size:
    workers: int
    steady_requests: int
    """Per target."""
    kill_requests: int
    hostile_requests: int
    outage_s: float
    sigterm_requests: int
    deadline_s: float
    """No scenario runs longer than this."""


SIZES = {
    "small": Size(
        workers=3,
        steady_requests=60,
        kill_requests=30,
        hostile_requests=40,
        outage_s=2.0,
        sigterm_requests=60,
        deadline_s=60,
    ),
    "default": Size(
        workers=8,
        steady_requests=1500,
        kill_requests=200,
        hostile_requests=1000,
        outage_s=8.0,
        sigterm_requests=600,
        deadline_s=180,
    ),
}


# ---------------------------------------------------------------------------------------------
# Requests and what they gave


@dataclass
class Sample:
    """One request: when it ran (monotonic seconds), what came back, what was expected."""

    target: str
    label: str
    start: float
    end: float
    status: int
    """The HTTP status; 0: the connection was refused; -1: it broke before an answer."""
    expected: tuple[int, ...] = (200, 201)
    write_id: str | None = None
    error_type: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.end - self.start) * 1000

    @property
    def ok(self) -> bool:
        return self.status in self.expected

    @property
    def is_2xx(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_5xx(self) -> bool:
        return self.status >= 500


def request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 35.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:`port` on a new connection: (status, headers, body); status 0
    when refused, -1 when the connection broke before an answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {"Connection": "close", **(headers or {})}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except ConnectionRefusedError:
        return 0, {}, b""
    except (ConnectionError, http.client.HTTPException, TimeoutError, OSError):
        return -1, {}, b""
    finally:
        conn.close()


@dataclass(frozen=True)
class Call:
    """A request to make and the statuses that would be right for it."""

    label: str
    method: str
    path: str
    token: str | None
    body: bytes | None = None
    expected: tuple[int, ...] = (200, 201)
    write_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def run_calls(
    target: str,
    port: int,
    calls: Iterable[Call],
    *,
    workers: int,
    deadline: float,
    on_sample: Callable[[Sample], None] | None = None,
) -> list[Sample]:
    """Make `calls` from `workers` threads until they run out or `deadline` (monotonic)."""
    queue = iter(list(calls))
    lock = threading.Lock()
    samples: list[Sample] = []

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                call = next(queue, None)
            if call is None:
                return
            start = time.monotonic()
            status, headers, _ = request(
                port, call.method, call.path, token=call.token, body=call.body, headers=call.headers
            )
            sample = Sample(
                target,
                call.label,
                start,
                time.monotonic(),
                status,
                call.expected,
                call.write_id,
                headers.get("x-amzn-errortype"),
            )
            with lock:
                samples.append(sample)
            if on_sample is not None:
                on_sample(sample)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(deadline - time.monotonic(), 0) + 40)
    return sorted(samples, key=lambda s: s.start)


# ---------------------------------------------------------------------------------------------
# Arithmetic (tests/local/test_load.py checks it by hand)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `q`% of values at or below
    it (None for no values)."""
    if not values:
        return None
    if not 0 < q <= 100:
        raise ValueError(f"percentile q must be in (0, 100], got {q}")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    """Counts, requests per second over the span from the first start to the last end, latency
    percentiles in ms, status counts, and `unexpected` (a status not in the request's expected
    set) and `errors` (5xx, refused or broken connections)."""
    if not samples:
        return {
            "requests": 0,
            "rps": None,
            "p50_ms": None,
            "p99_ms": None,
            "max_ms": None,
            "errors": 0,
            "unexpected": 0,
            "statuses": {},
        }
    span = max(s.end for s in samples) - min(s.start for s in samples)
    latencies = [s.latency_ms for s in samples]
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    return {
        "requests": len(samples),
        "rps": round(len(samples) / span, 1) if span > 0 else None,
        "p50_ms": _round(percentile(latencies, 50)),
        "p99_ms": _round(percentile(latencies, 99)),
        "max_ms": _round(max(latencies)),
        "errors": sum(1 for s in samples if s.is_5xx or s.status <= 0),
        "unexpected": sum(1 for s in samples if not s.ok),
        "statuses": dict(sorted(statuses.items())),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail}


def steady_checks(summary: Mapping[str, Any], target: str) -> list[dict[str, Any]]:
    return [
        check(f"{target}: no errors", summary["errors"] == 0, f"{summary['errors']} errors"),
        check(
            f"{target}: every status as expected (403 where the token lacks the scope)",
            summary["unexpected"] == 0,
            f"{summary['unexpected']} unexpected of {summary['requests']}",
        ),
    ]


def outage_checks(
    samples: Sequence[Sample], down_at: float, up_at: float
) -> tuple[list[dict[str, Any]], float | None]:
    """PostgreSQL was stopped at `down_at` and answered again at `up_at`: errors only between
    `down_at` and recovery (the first 2xx write after `up_at`), all 5xx; no 2xx for a request
    with a fresh token (label "fresh") that ran entirely while the database was down. Returns
    the checks and the recovery time in seconds (None: never recovered)."""
    recovered = next(
        (s.end for s in samples if s.write_id is not None and s.is_2xx and s.start >= up_at), None
    )
    recovery = None if recovered is None else round(recovered - up_at, 3)
    window_end = recovered if recovered is not None else math.inf
    outside = [s for s in samples if (s.end < down_at or s.start > window_end) and not s.ok]
    inside_errors = [s for s in samples if down_at <= s.end and s.start <= window_end and not s.ok]
    not_5xx = [s for s in inside_errors if not s.is_5xx]
    fresh_allowed = [
        s
        for s in samples
        if s.label == "fresh" and s.is_2xx and down_at <= s.start and s.end <= up_at
    ]
    down = [s for s in samples if down_at <= s.start and s.end <= up_at]
    return [
        check("errors only while PostgreSQL is down", not outside, f"{len(outside)} outside"),
        check(
            "every error while it is down is a 5xx",
            not not_5xx,
            f"{len(inside_errors)} errors, {len(not_5xx)} not 5xx "
            f"({sorted({s.status for s in not_5xx})})",
        ),
        check(
            "no request was let through while it was down (fresh tokens: the authorizer cannot "
            "check them)",
            not [s for s in down if s.is_2xx and s.write_id is not None] and not fresh_allowed,
            f"{len(down)} requests while down, {len(fresh_allowed)} fresh-token 2xx",
        ),
        check("recovered after it came back", recovery is not None, f"recovery {recovery} s"),
    ], recovery


def sigterm_checks(
    samples: Sequence[Sample], signalled_at: float, exited_at: float, exit_code: int | None
) -> list[dict[str, Any]]:
    """In flight at the signal: answered (no refused, no broken connection) and as expected;
    started after the process exited: refused; the exit status 0."""
    in_flight = [s for s in samples if s.start < signalled_at < s.end]
    broken = [s for s in in_flight if s.status <= 0 or not s.ok]
    after = [s for s in samples if s.start > exited_at]
    served_after = [s for s in after if s.status != 0]
    return [
        check(
            "requests in flight at SIGTERM complete",
            not broken,
            f"{len(in_flight)} in flight, {len(broken)} not answered as expected",
        ),
        check(
            "requests after exit are refused",
            bool(after) and not served_after,
            f"{len(after)} sent after exit, {len(served_after)} not refused",
        ),
        check("exit status 0", exit_code == 0, f"exit status {exit_code}"),
    ]


def kill_checks(
    samples: Sequence[Sample], killed_at: float, inits_before: int, inits_after: int
) -> list[dict[str, Any]]:
    """The request in flight when the runtime was killed got 502 or 500; requests that started
    after it got what they expected; the environment initialised again."""
    victims = [s for s in samples if s.start < killed_at < s.end]
    hit = [s for s in victims if s.status in (500, 502)]
    later = [s for s in samples if s.start > killed_at + 0.05]
    later_bad = [s for s in later if not s.ok]
    return [
        check(
            "the request in flight got 502/500 from the front door",
            len(hit) >= 1,
            f"{len(victims)} in flight, statuses {sorted(s.status for s in victims)}",
        ),
        check(
            "later requests succeed",
            bool(later) and not later_bad,
            f"{len(later)} later, {len(later_bad)} not as expected",
        ),
        check(
            "the next invocation started a fresh runtime (a new init)",
            inits_after == inits_before + 1,
            f"init reports {inits_before} -> {inits_after}",
        ),
    ]


def hostile_checks(samples: Sequence[Sample], alive: Mapping[str, bool]) -> list[dict[str, Any]]:
    allowed = [s for s in samples if s.is_2xx]
    fives = [s for s in samples if s.is_5xx or s.status <= 0]
    dead = sorted(name for name, ok in alive.items() if not ok)
    return [
        check("no hostile request allowed", not allowed, f"{len(allowed)} got 2xx"),
        check("no 5xx from the front door", not fives, f"{len(fives)} 5xx or broken"),
        check("every process alive afterwards", not dead, f"dead: {', '.join(dead) or 'none'}"),
    ]


def lost_writes(acknowledged: Sequence[str], found: Iterable[str]) -> dict[str, Any]:
    found_set = set(found)
    lost = sorted(set(acknowledged) - found_set)
    return {
        "acknowledged": len(set(acknowledged)),
        "found": len(set(acknowledged) & found_set),
        "lost": len(lost),
        "lost_ids": lost[:20],
    }


# ---------------------------------------------------------------------------------------------
# The mix


class Mix:
    """Requests over app/routes.json's routes for several tokens: each call knows its answer."""

    def __init__(self, tokens: Mapping[str, tuple[str, tuple[str, ...]]], run: str) -> None:
        self.tokens = tokens
        self.run = run
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"load-{self.run}-{self.n}"

    def calls(self, count: int) -> list[Call]:
        """`count` calls cycling through reads and writes with every token."""
        out: list[Call] = []
        labels = sorted(self.tokens)
        seeded: dict[str, str] = {}
        for i in range(count):
            label = labels[i % len(labels)]
            token, scopes = self.tokens[label]
            kind = i // len(labels) % 5
            if kind == 0 or label not in seeded:
                device = self._id()
                writes = "devices:write" in scopes
                if writes:
                    seeded[label] = device
                body = json.dumps({"id": device, "name": f"load {device}"}).encode()
                out.append(
                    Call(
                        label,
                        "POST",
                        "/devices",
                        token,
                        body,
                        (201, 200) if writes else (403,),
                        device if writes else None,
                    )
                )
                continue
            device = seeded[label]
            if kind == 1:
                out.append(
                    Call(label, "GET", "/devices", token, expected=_exp(scopes, "devices:read"))
                )
            elif kind == 2:
                out.append(
                    Call(
                        label,
                        "GET",
                        f"/devices/{device}",
                        token,
                        expected=_exp(scopes, "devices:read"),
                    )
                )
            elif kind == 3:
                body = json.dumps({"command": "reboot", "payload": {"delay_s": 1}}).encode()
                out.append(
                    Call(
                        label,
                        "POST",
                        f"/devices/{device}/commands",
                        token,
                        body,
                        _exp(scopes, "commands:write"),
                    )
                )
            else:
                out.append(
                    Call(label, "GET", "/images", token, expected=_exp(scopes, "images:read"))
                )
        return out

    def writes(self, count: int, label: str = "all") -> list[Call]:
        token, _ = self.tokens[label]
        out = []
        for _ in range(count):
            device = self._id()
            body = json.dumps({"id": device, "name": f"load {device}"}).encode()
            out.append(Call(label, "POST", "/devices", token, body, (201, 200), device))
        return out


def _exp(scopes: Sequence[str], needed: str) -> tuple[int, ...]:
    return (200, 201) if needed in scopes else (403,)


def hostile_calls(count: int, tokens: Mapping[str, str], good: str) -> list[Call]:
    """Forged (right shape, never issued), expired, revoked, malformed, oversized, unknown."""
    kinds: list[Callable[[int], Call]] = [
        lambda _: Call("forged", "GET", "/devices", new_token()[0], expected=(401,)),
        lambda _: Call("expired", "GET", "/devices", tokens["expired"], expected=(401,)),
        lambda _: Call("revoked", "GET", "/devices", tokens["revoked"], expected=(401,)),
        lambda _: Call(
            "malformed",
            "GET",
            "/devices",
            None,
            headers={"Authorization": "Bearer ' OR 1=1 --"},
            expected=(401,),
        ),
        lambda _: Call("no-token", "GET", "/devices", None, expected=(401,)),
        lambda i: Call("unknown-route", "GET", f"/admin/{i}", good, expected=(403,)),
        lambda i: Call(
            "oversized",
            "POST",
            "/devices",
            good,
            b"x" * (BODY_LIMIT + 1) if i % 50 == 0 else b"{" * 70000,
            expected=(413, 400, 422),
        ),
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


# ---------------------------------------------------------------------------------------------
# The run


def _insert_tokens(stack: LocalStack, count: int, scopes: Sequence[str]) -> list[str]:
    """`count` tokens written in one statement (fresh: never sent to the authorizer)."""
    assert stack.database is not None
    rows, tokens = [], []
    array = "ARRAY[" + ",".join(f"'{s}'" for s in scopes) + "]::text[]"
    for _ in range(count):
        token, token_id, digest = new_token()
        tokens.append(token)
        rows.append(f"('{token_id}', '{digest}', 'load-owner', {array}, NULL, NULL)")
    stack.database.sql(
        "INSERT INTO api_tokens (id, token_sha256, owner, scopes, expires_at, revoked_at) "
        "VALUES " + ",".join(rows)
    )
    return tokens


def _inits(stack: LocalStack, function: str) -> int:
    return sum(
        p.read_text(errors="replace").count("INIT REPORT")
        for p in (stack.workdir / "logs").glob(f"{function}-*.log")
    )


class LoadRun:
    """The scenarios against one stack, in order; `results` fills as they run."""

    def __init__(self, stack: LocalStack, size: Size, say: Callable[[str], None]) -> None:
        self.stack = stack
        self.size = size
        self.say = say
        self.results: dict[str, Any] = {"size": asdict(size), "scenarios": {}, "checks": []}
        self.acknowledged: list[str] = []
        self.handler = next(n for n, d in stack.functions.items() if d.trigger.kind == "api")
        labels = {
            "all": ALL_SCOPES,
            "read": READ_SCOPES,
            "devices": ("devices:read", "devices:write"),
        }
        self.tokens = {k: (stack.issue_token(v, owner="load-owner"), v) for k, v in labels.items()}
        self.mix = Mix(self.tokens, uuid.uuid4().hex[:6])

    @property
    def ports(self) -> Ports:
        return self.stack.ports

    def deadline(self) -> float:
        return time.monotonic() + self.size.deadline_s

    def record(
        self, name: str, samples: list[Sample], checks: list[dict[str, Any]], **extra: Any
    ) -> None:
        summary = summarize(samples)
        self.results["scenarios"][name] = {**summary, **extra}
        self.results["checks"] += [{**c, "scenario": name} for c in checks]
        self.acknowledged.extend(s.write_id for s in samples if s.write_id and s.is_2xx)
        self.say(
            f"{name}: {summary['requests']} requests, {summary['rps']} rps, p50 "
            f"{summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, errors {summary['errors']}"
        )

    def steady(self) -> None:
        for target, port in (("front", self.ports.api), ("server", self.ports.server)):
            samples = run_calls(
                target,
                port,
                self.mix.calls(self.size.steady_requests),
                workers=self.size.workers,
                deadline=self.deadline(),
            )
            self.record(f"steady-{target}", samples, steady_checks(summarize(samples), target))

    def lambda_killed(self) -> None:
        pool = self.stack.pools[self.handler]
        killed: dict[str, float] = {}

        def killer() -> None:
            deadline = self.deadline()
            while time.monotonic() < deadline:
                for inst in pool.busy():
                    pid = inst.runtime_pid()
                    if pid is not None:
                        killed["before"] = _inits(self.stack, self.handler)
                        os.kill(pid, signal.SIGKILL)
                        killed["at"] = time.monotonic()
                        return
                time.sleep(0.002)

        calls = [c for c in self.mix.calls(self.size.kill_requests * 3) if c.label == "all"]
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        samples = run_calls(
            "front",
            self.ports.api,
            calls[: self.size.kill_requests],
            workers=1,
            deadline=self.deadline(),
        )
        thread.join(timeout=5)
        if "at" in killed:
            after = _inits(self.stack, self.handler)
            checks = kill_checks(samples, killed["at"], int(killed["before"]), after)
        else:
            checks = [check("a busy runtime was found to kill", False, "none found")]
        self.record("lambda-killed", samples, checks)

    def hostile(self) -> None:
        db = self.stack.database
        assert db is not None and self.stack.server_process is not None
        scopes = list(ALL_SCOPES)
        expired = db.insert_token("load-owner", scopes, expires="now() - interval '1 hour'")[0]
        revoked = db.insert_token("load-owner", scopes, revoked="now() - interval '1 minute'")[0]
        calls = hostile_calls(
            self.size.hostile_requests,
            {"expired": expired, "revoked": revoked},
            self.tokens["read"][0],
        )
        samples = run_calls(
            "front", self.ports.api, calls, workers=self.size.workers, deadline=self.deadline()
        )
        status, _, _ = request(self.ports.api, "GET", "/devices", token=self.tokens["all"][0])
        alive = {f"{n} environments": p.all_alive() for n, p in self.stack.pools.items()}
        server = self.stack.server_process.process
        alive["server"] = server is not None and server.poll() is None
        alive["front door answers a good request"] = status == 200
        self.record("hostile", samples, hostile_checks(samples, alive))

    def postgres_restart(self) -> None:
        postgres = self.stack.postgres
        assert postgres is not None
        size = self.size
        per_second = max(size.workers * 10, 10)
        fresh = iter(
            _insert_tokens(self.stack, int(per_second * (size.outage_s + 2)), ("devices:read",))
        )
        marks: dict[str, float] = {}

        def outage() -> None:
            time.sleep(0.5)
            marks["down"] = time.monotonic()
            postgres.stop()
            time.sleep(size.outage_s)
            postgres.start()
            marks["up"] = time.monotonic()

        calls: list[Call] = []
        for i, call in enumerate(self.mix.writes(int(per_second * (size.outage_s + 6)))):
            calls.append(call)
            token = next(fresh, None) if i % 2 == 0 else None
            if token is not None:
                calls.append(Call("fresh", "GET", "/devices", token, expected=(200,)))
        thread = threading.Thread(target=outage, daemon=True)
        thread.start()
        samples = run_pacing(
            "front",
            self.ports.api,
            calls,
            per_second=per_second * 2,
            workers=size.workers,
            deadline=self.deadline(),
        )
        thread.join(timeout=size.outage_s + 60)
        checks, recovery = outage_checks(samples, marks["down"], marks["up"])
        down = round(marks["up"] - marks["down"], 3)
        self.record("postgres-restart", samples, checks, recovery_s=recovery, down_s=down)

    def server_sigterm(self) -> None:
        server = self.stack.server_process
        assert server is not None
        sig: dict[str, Any] = {}

        def terminate() -> None:
            time.sleep(1.0)
            sig["at"] = time.monotonic()
            sig["code"] = server.terminate(timeout=30)
            sig["exited"] = time.monotonic()

        thread = threading.Thread(target=terminate, daemon=True)
        thread.start()
        samples = run_pacing(
            "server",
            self.ports.server,
            self.mix.calls(self.size.sigterm_requests),
            per_second=self.size.sigterm_requests / 3,
            workers=self.size.workers,
            deadline=self.deadline(),
        )
        thread.join(timeout=40)
        checks = sigterm_checks(samples, sig["at"], sig["exited"], sig.get("code"))
        self.record("server-sigterm", samples, checks, exit_code=sig.get("code"))
        self.stack.server_process = None

    def writes(self) -> None:
        db = self.stack.database
        assert db is not None
        ids = sorted(set(self.acknowledged))
        found: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = ",".join(f"'{i}'" for i in ids[start : start + 500])
            # ids are ours (load-<run>-<n>), never input
            query = f"SELECT id FROM devices WHERE id IN ({chunk})"  # noqa: S608
            found += [r["id"] for r in db.rows(query)]
        writes = lost_writes(ids, found)
        self.results["writes"] = writes
        detail = f"{writes['acknowledged']} acknowledged, {writes['found']} found"
        ok = check("every acknowledged write is in the database", writes["lost"] == 0, detail)
        self.results["checks"].append({**ok, "scenario": "writes"})


def run(
    size: Size,
    *,
    pg_port: int,
    dist: Path = ROOT / "dist",
    app: Path = ROOT / "app",
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every scenario on a stack of its own (free ports, PostgreSQL on `pg_port`)."""
    ports = Ports(api=free_port(), server=free_port(), invoke=free_port(), postgres=pg_port)
    stack = LocalStack(dist=dist, app=app, ports=ports, work=dist / "local-load", say=say)
    with stack:
        load = LoadRun(stack, size, say)
        load.steady()
        load.lambda_killed()
        load.hostile()
        load.postgres_restart()
        load.server_sigterm()
        load.writes()
        return load.results


def run_pacing(
    target: str,
    port: int,
    calls: Sequence[Call],
    *,
    per_second: float,
    workers: int,
    deadline: float,
) -> list[Sample]:
    """Like `run_calls`, but at most `per_second` calls start each second, so a scenario spans
    the fault it injects."""
    gap = 1.0 / per_second
    started = time.monotonic()
    paced = [(started + i * gap, c) for i, c in enumerate(calls)]
    lock = threading.Lock()
    queue = iter(paced)
    samples: list[Sample] = []

    def worker() -> None:
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            at, call = item
            if at > deadline:
                return
            time.sleep(max(at - time.monotonic(), 0))
            start = time.monotonic()
            status, headers, _ = request(
                port,
                call.method,
                call.path,
                token=call.token,
                body=call.body,
                headers=call.headers,
                timeout=10,
            )
            with lock:
                samples.append(
                    Sample(
                        target,
                        call.label,
                        start,
                        time.monotonic(),
                        status,
                        call.expected,
                        call.write_id,
                        headers.get("x-amzn-errortype"),
                    )
                )

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(deadline - time.monotonic(), 0) + 40)
    return sorted(samples, key=lambda s: s.start)


# ---------------------------------------------------------------------------------------------
# Output


def table(results: Mapping[str, Any]) -> str:
    """The results as a text table, then the checks."""
    head = (
        f"{'scenario':<18} {'requests':>8} {'rps':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>6}"
    )
    lines = [head, "-" * len(head)]
    for name, s in results["scenarios"].items():
        lines.append(
            f"{name:<18} {s['requests']:>8} {_fmt(s['rps']):>7} {_fmt(s['p50_ms']):>8} "
            f"{_fmt(s['p99_ms']):>8} {_fmt(s['max_ms']):>8} {s['errors']:>6}"
        )
    lines.append("")
    for c in results["checks"]:
        lines.append(
            f"[{'ok' if c['ok'] else 'FAILED'}] {c['scenario']}: {c['name']} ({c['detail']})"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def main(args: argparse.Namespace) -> int:
    size = SIZES[args.size]
    out = args.out or args.dist / "load.json"
    try:
        results = run(size, pg_port=args.postgres_port, dist=args.dist, app=args.app)
    except SandboxError as exc:
        print(f"local load: {exc}")
        return 2
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    tmp.replace(out)
    print(table(results))
    print(f"results written to {out}")
    return 0 if all(c["ok"] for c in results["checks"]) else 1
