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
import json
import math
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from local.sandbox import SandboxError, free_port, request
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
        outage_s=8.0,
        sigterm_requests=3000,
        deadline_s=60,
    ),
    "default": Size(
        workers=8,
        steady_requests=1500,
        kill_requests=200,
        hostile_requests=1000,
        outage_s=12.0,
        sigterm_requests=20000,
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


def _send(target: str, port: int, call: Call, timeout: float) -> Sample:
    start = time.monotonic()
    status, headers, _ = request(
        port,
        call.method,
        call.path,
        token=call.token,
        body=call.body,
        headers=call.headers,
        timeout=timeout,
    )
    end = time.monotonic()
    error_type = headers.get("x-amzn-errortype")
    return Sample(target, call.label, start, end, status, call.expected, call.write_id, error_type)


def run_calls(
    target: str,
    port: int,
    calls: Iterable[Call],
    *,
    workers: int,
    deadline: float,
    stop: Callable[[], bool] | None = None,
    per_second: float | None = None,
    timeout: float = 35.0,
) -> list[Sample]:
    """Make `calls` from `workers` threads until they run out, `deadline` (monotonic) passes or
    `stop()` is true. With `per_second`, call i starts no earlier than i / per_second seconds
    after the first, so a scenario spans the fault it injects."""
    started = time.monotonic()
    queue = enumerate(calls)
    lock = threading.Lock()
    samples: list[Sample] = []

    def worker() -> None:
        while time.monotonic() < deadline and not (stop is not None and stop()):
            with lock:
                item = next(queue, None)
            if item is None:
                return
            index, call = item
            if per_second is not None:
                at = started + index / per_second
                if at > deadline:
                    return
                time.sleep(max(at - time.monotonic(), 0))
            sample = _send(target, port, call, timeout)
            with lock:
                samples.append(sample)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(deadline - time.monotonic(), 0) + timeout + 5)
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
    """No 5xx or broken connection; every status what the route table says."""
    return [
        check(f"{target}: no errors", summary["errors"] == 0, f"{summary['errors']} errors"),
        check(
            f"{target}: every status as expected (403 where the token lacks the scope)",
            summary["unexpected"] == 0,
            f"{summary['unexpected']} unexpected of {summary['requests']}",
        ),
    ]


def outage_checks(
    samples: Sequence[Sample], stopping: float, down: float, starting: float, up: float
) -> tuple[list[dict[str, Any]], float | None]:
    """PostgreSQL was being stopped from `stopping`, answered nothing from `down` to `starting`,
    and answered again from `up`. Errors only from `stopping` to recovery (the end of the first
    2xx write that started after `up`), all of them 5xx; no 2xx answered between `down` and
    `starting` (every route needs the database: a 2xx then would be a write not stored, or a
    token, "fresh" ones never seen by the authorizer among them, let through unchecked), and at
    least one answer then (else the scenario proved nothing). Returns the checks and the
    recovery time in seconds (None: never)."""
    recovered = next(
        (s.end for s in samples if s.write_id is not None and s.is_2xx and s.start >= up), None
    )
    recovery = None if recovered is None else round(recovered - up, 3)
    window_end = recovered if recovered is not None else math.inf
    outside = [s for s in samples if (s.end < stopping or s.start > window_end) and not s.ok]
    inside_errors = [s for s in samples if stopping <= s.end and s.start <= window_end and not s.ok]
    not_5xx = [s for s in inside_errors if not s.is_5xx]
    while_down = [s for s in samples if down <= s.end <= starting]
    let_through = [s for s in while_down if s.is_2xx]
    return [
        check("errors only while PostgreSQL is down", not outside, f"{len(outside)} outside"),
        check(
            "every error while it is down is a 5xx",
            not not_5xx,
            f"{len(inside_errors)} errors, {len(not_5xx)} not 5xx "
            f"({sorted({s.status for s in not_5xx})})",
        ),
        check(
            "nothing let through while it was down (no write acknowledged, no token unchecked)",
            bool(while_down) and not let_through,
            f"{len(while_down)} answered while down, {len(let_through)} of them 2xx",
        ),
        check("recovered after it came back", recovery is not None, f"recovery {recovery} s"),
    ], recovery


def sigterm_checks(
    samples: Sequence[Sample],
    held: Sequence[Sample],
    signalled_at: float,
    exited_at: float,
    exit_code: int | None,
) -> list[dict[str, Any]]:
    """`held`: requests the server was inside of at the signal (they wait on a lock): each
    answered as expected. Other requests started after the process exited: refused. Exit
    status 0. Requests of the load that were in flight at the signal are counted: one that
    the kernel had queued but the server had not accepted yet is reset, as with any server
    that stops accepting (on AWS the load balancer deregisters the task first)."""
    in_held = [s for s in held if s.start < signalled_at < s.end]
    broken = [s for s in held if not s.ok]
    in_flight = [s for s in samples if s.start < signalled_at < s.end]
    reset = [s for s in in_flight if s.status <= 0]
    after = [s for s in samples if s.start > exited_at]
    served_after = [s for s in after if s.status != 0]
    return [
        check(
            "requests in flight at SIGTERM complete",
            bool(held) and len(in_held) == len(held) and not broken,
            f"{len(held)} held in the server across the signal, {len(broken)} not answered as "
            f"expected ({sorted(s.status for s in broken)}); of the load, {len(in_flight)} in "
            f"flight, {len(reset)} reset before the server accepted them",
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
    other = [s for s in samples if not s.ok and not s.is_2xx and s not in fives]
    dead = sorted(name for name, ok in alive.items() if not ok)
    return [
        check("no hostile request allowed", not allowed, f"{len(allowed)} got 2xx"),
        check("no 5xx from the front door", not fives, f"{len(fives)} 5xx or broken"),
        check(
            "each refused as API Gateway refuses it (401, 403, 413, ...)",
            not other,
            f"{len(other)} other: {sorted({(s.label, s.status) for s in other})[:5]}",
        ),
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
    """Requests over app/routes.json's routes for several tokens: each call knows its answer.
    `device` exists before the calls run (created by `LoadRun`), owned by the tokens' owner, so
    reads of it never race the write that made it."""

    def __init__(
        self, tokens: Mapping[str, tuple[str, tuple[str, ...]]], run: str, device: str
    ) -> None:
        self.tokens = tokens
        self.run = run
        self.device = device
        self.n = 0

    def new_id(self) -> str:
        self.n += 1
        return f"load-{self.run}-{self.n}"

    def calls(self, count: int) -> list[Call]:
        """`count` calls cycling through the tokens and five kinds: create a device, list, read
        one, send it a command, list images."""
        out: list[Call] = []
        labels = sorted(self.tokens)
        device = self.device
        for i in range(count):
            label = labels[i % len(labels)]
            token, scopes = self.tokens[label]
            kind = i // len(labels) % 5
            if kind == 0:
                writes = "devices:write" in scopes
                new = self.new_id()
                body = json.dumps({"id": new, "name": f"load {new}"}).encode()
                expected: tuple[int, ...] = (201, 200) if writes else (403,)
                write_id = new if writes else None
                out.append(Call(label, "POST", "/devices", token, body, expected, write_id))
            elif kind == 1:
                out.append(
                    Call(label, "GET", "/devices", token, expected=_exp(scopes, "devices:read"))
                )
            elif kind == 2:
                expected = _exp(scopes, "devices:read")
                out.append(Call(label, "GET", f"/devices/{device}", token, expected=expected))
            elif kind == 3:
                body = json.dumps({"command": "reboot", "payload": {"delay_s": 1}}).encode()
                expected = _exp(scopes, "commands:write")
                path = f"/devices/{device}/commands"
                out.append(Call(label, "POST", path, token, body, expected))
            else:
                out.append(
                    Call(label, "GET", "/images", token, expected=_exp(scopes, "images:read"))
                )
        return out

    def writes(self, count: int, label: str = "all") -> list[Call]:
        token, _ = self.tokens[label]
        out = []
        for _ in range(count):
            new = self.new_id()
            body = json.dumps({"id": new, "name": f"load {new}"}).encode()
            out.append(Call(label, "POST", "/devices", token, body, (201, 200), new))
        return out


def _exp(scopes: Sequence[str], needed: str) -> tuple[int, ...]:
    return (200, 201) if needed in scopes else (403,)


def hostile_calls(count: int, tokens: Mapping[str, str], good: str) -> list[Call]:
    """Forged (right shape, never issued), expired, revoked, malformed, oversized, unknown."""
    kinds: list[Callable[[int], Call]] = [
        lambda _: Call("forged", "GET", "/devices", new_token()[0], expected=(403,)),
        lambda _: Call("expired", "GET", "/devices", tokens["expired"], expected=(403,)),
        lambda _: Call("revoked", "GET", "/devices", tokens["revoked"], expected=(403,)),
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
        run = uuid.uuid4().hex[:6]
        device = f"load-{run}-seed"
        body = json.dumps({"id": device, "name": "load seed"}).encode()
        status, _, answer = request(
            stack.ports.server, "POST", "/devices", token=self.tokens["all"][0], body=body
        )
        if status not in (200, 201):
            raise SandboxError(f"the load could not create its seed device: {status} {answer!r}")
        self.mix = Mix(self.tokens, run, device)

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
        """Every handler runtime stopped (SIGSTOP), one request sent (it waits in an environment:
        surely in flight), that environment's runtime killed (SIGKILL), the others resumed; then
        that environment invoked again (it must initialise a new runtime), and more load."""
        pool = self.stack.pools[self.handler]
        token = self.tokens["all"][0]
        request(self.ports.api, "GET", "/devices", token=token)  # at least one environment
        runtimes = {i.number: i.runtime_pid() for i in pool.instances()}
        stopped = [pid for pid in runtimes.values() if pid is not None]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        victim: list[Sample] = []

        def send() -> None:
            start = time.monotonic()
            status, _, _ = request(self.ports.api, "GET", "/devices", token=token)
            victim.append(Sample("front", "victim", start, time.monotonic(), status, (502, 500)))

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        busy: list[Any] = []
        deadline = time.monotonic() + 10
        while not busy and time.monotonic() < deadline:
            busy = [i for i in pool.busy() if i.number in runtimes]
            time.sleep(0.01)
        checks: list[dict[str, Any]]
        if not busy:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
            sender.join(timeout=40)
            checks = [check("the request reached a stopped environment", False, "none busy")]
            self.record("lambda-killed", victim, checks)
            return
        inst = busy[0]
        time.sleep(0.2)
        log = inst.fn.log_path
        inits_before = log.read_text(errors="replace").count("INIT REPORT")
        killed_at = time.monotonic()
        os.kill(int(runtimes[inst.number] or 0), signal.SIGKILL)
        for pid in stopped:
            if pid != runtimes[inst.number]:
                os.kill(pid, signal.SIGCONT)
        sender.join(timeout=40)
        event = json.loads(
            (self.stack.app / "events" / "handler" / "list-devices.json").read_text()
        )
        again = pool.invoke_in(inst, event, 30)
        inits_after = log.read_text(errors="replace").count("INIT REPORT")
        calls = [c for c in self.mix.calls(self.size.kill_requests * 3) if c.label == "all"]
        samples = run_calls(
            "front",
            self.ports.api,
            calls[: self.size.kill_requests],
            workers=self.size.workers,
            deadline=self.deadline(),
        )
        checks = kill_checks([*victim, *samples], killed_at, inits_before, inits_after)
        checks.append(
            check(
                "that environment answers its next invocation",
                not again.result.function_error and again.cold,
                f"function error {again.result.function_error}, new init {again.cold}",
            )
        )
        self.record("lambda-killed", [*victim, *samples], checks)

    def hostile(self) -> None:
        db = self.stack.database
        assert db is not None and self.stack.server_process is not None
        scopes = list(ALL_SCOPES)
        expired = db.insert_token("load-owner", scopes, expires="now() - interval '1 hour'")[0]
        revoked = db.insert_token("load-owner", scopes, revoked="now() - interval '1 minute'")[0]
        calls = hostile_calls(
            self.size.hostile_requests,
            {"expired": expired, "revoked": revoked},
            self.tokens["all"][0],
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
        assert self.stack.database is not None
        made = self.stack.database.insert_tokens(
            "load-owner", ["devices:read"], int(per_second * (size.outage_s + 2))
        )
        fresh = iter(token for token, _ in made)
        marks: dict[str, float] = {}

        def outage() -> None:
            time.sleep(0.5)
            marks["stopping"] = time.monotonic()
            postgres.stop()
            marks["down"] = time.monotonic()  # pg_ctl stop returned: nothing answers
            time.sleep(size.outage_s)
            marks["starting"] = time.monotonic()  # still down until pg_ctl start returns
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
        samples = run_calls(
            "front",
            self.ports.api,
            calls,
            per_second=per_second * 2,
            workers=max(size.workers, 16),  # paced: they mostly wait; answers may take seconds
            deadline=self.deadline(),
            timeout=10,
        )
        thread.join(timeout=size.outage_s + 60)
        checks, recovery = outage_checks(
            samples, marks["stopping"], marks["down"], marks["starting"], marks["up"]
        )
        down = round(marks["starting"] - marks["down"], 3)
        self.record("postgres-restart", samples, checks, recovery_s=recovery, down_s=down)

    def server_sigterm(self) -> None:
        """Requests surely in flight: `held` GET /devices wait on a table lock taken just before
        the signal and released after it (the server has accepted them and is inside the
        handler), with unpaced load around them."""
        server, db = self.stack.server_process, self.stack.database
        assert server is not None and db is not None
        sig: dict[str, Any] = {}
        held: list[Sample] = []
        token = self.tokens["all"][0]

        def one_held() -> None:
            start = time.monotonic()
            status, _, _ = request(self.ports.server, "GET", "/devices", token=token)
            held.append(
                Sample("server", "held", start, time.monotonic(), status, (200,), None, None)
            )

        def terminate() -> None:
            time.sleep(0.5)
            hold = (
                "BEGIN; LOCK TABLE devices IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;"
            )
            lock = subprocess.Popen(
                ["psql", "-X", "-q", db.url, "-c", hold],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.3)
            waiters = [threading.Thread(target=one_held, daemon=True) for _ in range(3)]
            for w in waiters:
                w.start()
            time.sleep(0.3)
            sig["at"] = time.monotonic()
            sig["code"] = server.terminate(timeout=30)
            sig["exited"] = time.monotonic()
            lock.wait(timeout=30)
            for w in waiters:
                w.join(timeout=30)

        thread = threading.Thread(target=terminate, daemon=True)
        thread.start()
        samples = run_calls(
            "server",
            self.ports.server,
            self.mix.calls(self.size.sigterm_requests),
            workers=self.size.workers,
            deadline=self.deadline(),
            stop=lambda: "exited" in sig and time.monotonic() > sig["exited"] + 0.3,
        )
        thread.join(timeout=60)
        checks = sigterm_checks(samples, held, sig["at"], sig["exited"], sig.get("code"))
        # The table's figures are the server's while it ran; refusals after exit are expected.
        before_exit = [x for x in samples if x.start <= sig["exited"]]
        refused = sum(1 for x in samples if x.start > sig["exited"] and x.status == 0)
        self.record(
            "server-sigterm",
            [*before_exit, *held],
            checks,
            exit_code=sig.get("code"),
            refused_after_exit=refused,
            drain_s=round(sig["exited"] - sig["at"], 3),
        )
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
