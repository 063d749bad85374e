"""`python -m local serve` (what `make local` runs) started and stopped by a test: every route of
app/routes.json through the front door and the exact zips with a token the real server issued,
the server, `invoke` and `event` against the running stack, and Ctrl-C leaving nothing behind.
Plus the one-line errors: a busy port, a missing build, a bad event file."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.routes import load_routes
from local.sandbox import free_port, request, rie_path
from tests.local.cli import DIST, ROOT, local_cli

PG_PORT = 55449
"""The stack's own PostgreSQL in this test (not the test cluster's 55432)."""

pytestmark = [pytest.mark.postgres, pytest.mark.rie]


def _skip_without_build() -> None:
    if not (DIST / "manifest.json").is_file():
        message = f"{DIST}/manifest.json missing: run `make build` (make test does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (through /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid}: gone"


def _processes_using(marker: str) -> list[str]:
    lines = (_cmdline(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit())
    return [line for line in lines if marker in line]


class Served:
    def __init__(self, proc: subprocess.Popen[str], ports: dict[str, int], banner: str) -> None:
        self.proc = proc
        self.ports = ports
        self.banner = banner
        match = re.search(r"token \(every scope\):\s+(\S+)", banner)
        assert match, banner
        self.token = match.group(1)
        self.children: set[int] = set()
        self.output: list[str] = []
        """What the stack prints after its banner, read all along: a pipe nobody reads fills up
        (64 KiB) and blocks the stack on its next print, shutdown included."""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    _skip_without_build()
    ports = {"api": free_port(), "server": free_port(), "invoke": free_port()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local",
            "--dist",
            str(DIST),
            "serve",
            "--api-port",
            str(ports["api"]),
            "--server-port",
            str(ports["server"]),
            "--invoke-port",
            str(ports["invoke"]),
            "--postgres-port",
            str(PG_PORT),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As a non-interactive shell starts a background job (`make local &`, a CI script):
        # SIGINT inherited ignored. Ctrl-C must stop the stack all the same.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )
    lines: list[str] = []
    deadline = time.monotonic() + 240
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl-C stops everything"):
            break
    banner = "".join(lines)
    if proc.poll() is not None or "Ctrl-C stops everything" not in banner:
        proc.kill()
        pytest.fail(f"python -m local serve did not come up:\n{banner}", pytrace=False)
    s = Served(proc, ports, banner)
    stdout = proc.stdout
    drain = threading.Thread(target=lambda: s.output.extend(iter(stdout.readline, "")), daemon=True)
    drain.start()
    try:
        yield s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_every_route_answers_through_the_authorizer_and_the_zips(served: Served) -> None:
    """Each route of app/routes.json, with the path values the earlier calls created."""
    api, token = served.ports["api"], served.token
    device = f"local-{os.getpid()}"
    body = json.dumps({"id": device, "name": "local test"}).encode()
    calls = {
        ("POST", "/devices"): ("/devices", body),
        ("GET", "/devices"): ("/devices", None),
        ("GET", "/devices/{device_id}"): (f"/devices/{device}", None),
        ("POST", "/devices/{device_id}/commands"): (
            f"/devices/{device}/commands",
            json.dumps({"command": "reboot", "payload": {}}).encode(),
        ),
        ("GET", "/devices/{device_id}/commands"): (f"/devices/{device}/commands", None),
        ("POST", "/devices/{device_id}/tags"): (
            f"/devices/{device}/tags",
            json.dumps({"key": "env", "value": "local"}).encode(),
        ),
        ("GET", "/images"): ("/images", None),
    }
    routes = load_routes(ROOT / "app" / "routes.json")
    assert {(r.method, r.path) for r in routes} == set(calls), "a route without a call here"
    for route in routes:  # the table's order: POST /devices comes before the reads of it
        path, data = calls[(route.method, route.path)]
        status, _, payload = request(api, route.method, path, token=token, body=data)
        assert 200 <= status < 300, (route, status, payload[:300])
    status, _, payload = request(api, "GET", f"/devices/{device}", token=token)
    assert json.loads(payload)["id"] == device


def test_the_gateway_rules_hold_in_front_of_the_real_authorizer(served: Served) -> None:
    api = served.ports["api"]
    assert request(api, "GET", "/devices")[0] == 401  # no header: the authorizer is not called
    forged = "roa_" + "a" * 12 + "_" + "B" * 40
    status, headers, _ = request(api, "GET", "/devices", token=forged)
    assert status == 403  # the authorizer denies a token it does not know
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert request(api, "GET", "/nowhere", token=served.token)[0] == 403  # no such resource


def test_the_server_answers(served: Served) -> None:
    status, _, body = request(served.ports["server"], "GET", "/healthz")
    assert status == 200, body
    status, _, _ = request(served.ports["server"], "GET", "/devices", token=served.token)
    assert status == 200


def test_invoke_and_events_reach_the_running_functions(served: Served) -> None:
    out = local_cli(
        "invoke", "authorizer", str(ROOT / "app" / "events" / "authorizer" / "unknown.json")
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "invoke duration:" in out.stderr
    assert "decision allow=false" in out.stderr  # the function's own log line, tailed
    out = local_cli(
        "invoke", "handler", str(ROOT / "app" / "events" / "handler" / "wrong-shape.json")
    )
    assert out.returncode == 1, out.stderr  # a function error
    assert json.loads(out.stdout)["errorType"]
    out = local_cli("event", "schedule")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)  # the timer's counts
    out = local_cli("event", "ecr-push", "--tag", "local-1")
    assert out.returncode == 0, out.stderr
    assert "pushed rust-on-aws-server:local-1" in out.stderr


def test_invoke_migrate_on_a_one_shot_stack_runs_the_first_migration(tmp_path: Path) -> None:
    """Not the running stack: the stack of just what migrate needs (a fresh database, moto).
    Its invocation is the first run: every migration of app/db/migrations applied, the runtime
    role's secret written. (It raised KeyError 'migrate' before: the migration had no pool.)"""
    dist = tmp_path / "dist"  # the same build, without the running stack's state file
    dist.mkdir()
    for entry in DIST.iterdir():
        if entry.name not in {"local", "local-invoke"}:
            (dist / entry.name).symlink_to(entry)
    empty = tmp_path / "event.json"
    empty.write_text("{}")
    out = local_cli("invoke", "migrate", str(empty), dist=dist)
    assert out.returncode == 0, out.stderr[-3000:]
    folders = sorted(p.name for p in (ROOT / "app" / "db" / "migrations").iterdir() if p.is_dir())
    result = json.loads(out.stdout)
    assert result["applied"] == [name.split("_", 1)[0].replace("-", "") for name in folders]
    assert result["rotated"] is True
    assert "init duration:" in out.stderr


def test_ctrl_c_stops_everything(served: Served) -> None:
    """Last in the module: SIGINT, exit 0, no process below it, no port, no cluster."""
    served.children = _descendants(served.proc.pid)
    assert served.children, "the stack runs its processes below the serve process"
    served.proc.send_signal(signal.SIGINT)
    try:
        status = served.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"still running 90 s after SIGINT; it printed:\n{''.join(served.output)[-3000:]}"
        )
    assert status == 0, "".join(served.output)[-3000:]
    deadline = time.monotonic() + 15  # a PID namespace's processes are reaped asynchronously
    alive = sorted(served.children)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in served.children if _running(pid)]
        time.sleep(0.1)
    assert not alive, [_cmdline(pid) for pid in alive]
    for port in [*served.ports.values(), PG_PORT]:
        assert not _listening(port), port
    assert not _processes_using(f"rust-on-aws-local-pg-{PG_PORT}")
    assert not (DIST / "local" / "state.json").exists()


# ---------------------------------------------------------------------------------------------
# one-line errors


def test_a_busy_port_is_one_line_naming_it() -> None:
    _skip_without_build()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        out = local_cli(
            "serve", "--api-port", str(port), "--postgres-port", str(PG_PORT), timeout=60
        )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"local: port {port} on 127.0.0.1 (api) is in use, by another `make local`? stop it, "
        "or choose another with --api-port"
    ]


def test_a_missing_build_is_one_line_naming_make_build(tmp_path: Path) -> None:
    out = local_cli("serve", dist=tmp_path, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"local: {tmp_path}/manifest.json is missing")
    assert lines[0].endswith("run `make build`")


def test_a_bad_event_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    out = local_cli("invoke", "handler", str(bad), timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith(f"local: event file {bad} is not JSON")
    good = tmp_path / "good.json"
    good.write_text("{}")
    out = local_cli("invoke", "nosuch", str(good), timeout=60)
    assert out.returncode == 2
    assert "no declared function 'nosuch'" in out.stderr


def test_a_missing_tool_is_one_line_naming_the_package(tmp_path: Path) -> None:
    """psql off PATH (the emulator found where make setup puts it): one line, what to install."""
    _skip_without_build()
    env = {
        "PATH": str(tmp_path),  # nothing on it
        "AWS_LAMBDA_RIE": str(rie_path()),
        "HOME": str(Path.home()),
    }
    out = local_cli("serve", "--postgres-port", str(PG_PORT), env=env, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "local: psql not found on PATH: install postgresql-client "
        "(apt-get install -y postgresql-client)"
    ]
