"""One stack on 127.0.0.1: what `make local` starts, and the load tool and the tests drive.

`LocalStack.start()` brings up, in this order, and `stop()` takes down in reverse, leaving no
process, database or cluster behind:

1. PostgreSQL: a cluster of its own (scripts/postgres.sh on `pg_port`, TLS with a test CA), a
   fresh database shaped as RDS makes one;
2. moto's server: Secrets Manager with the master secret and the runtime role's, ECR with the
   server's repository;
3. the migration: the declared migration function's zip under the emulator, invoked once, as
   `pulumi up` invokes it (schema, runtime role, its secret);
4. every other declared function: a `FunctionPool` of its zip under aws-lambda-rie in a minimal
   root (local.sandbox), started on first use, as Lambda starts an execution environment;
5. the server from dist/server in its own minimal root;
6. the front door (local.gateway) on `api_port`: API Gateway's rules in front of the
   authorizer and handler pools, and a Lambda Invoke endpoint on `invoke_port`
   (`POST /2015-03-31/functions/{name}/invocations`, Lambda's own API path) through which
   `python -m local invoke` and `python -m local event` reach the running functions.

A state file (`dist/local/state.json`) names the URLs while the stack runs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from build.policy import Policy, load_policy
from components.routes import Route, load_routes
from declarations import FunctionDeclaration
from local.artifacts import Artifacts, check_dist, declared, declared_env, references
from local.events import ACCOUNT
from local.gateway import FrontDoor, InvokeTimeout, LambdaResult, serve
from local.sandbox import (
    SANDBOX_UID,
    Jail,
    JailedServer,
    RieFunction,
    SandboxError,
    child_pid,
    init_duration_ms,
    invoke_duration_ms,
    request,
    rie_path,
)
from local.services import (
    REGION,
    Database,
    Moto,
    MotoServer,
    Postgres,
    Secrets,
    Wiring,
    function_environment,
    function_root,
    issue_token,
    require_tool,
    server_environment,
    server_jail,
    server_root,
)

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
ECR_REPOSITORY = "rust-on-aws-server"
STATE = "state.json"
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([a-z][a-z0-9-]*)/invocations$")
OWNER = "local-developer"


@dataclass(frozen=True)
class Ports:
    api: int = 3000
    """The front door (API Gateway)."""
    server: int = 8080
    """The ECS server."""
    invoke: int = 3001
    """Lambda's Invoke API for the running functions."""
    postgres: int = 55440
    """The stack's own PostgreSQL cluster."""

    def check_free(self) -> None:
        """Every port free on 127.0.0.1, or one line naming the port and the fix."""
        for what, port in (
            ("api", self.api),
            ("server", self.server),
            ("invoke", self.invoke),
            ("postgres", self.postgres),
        ):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    raise SandboxError(
                        f"port {port} on 127.0.0.1 ({what}) is in use, by another `make local`? "
                        f"stop it, or choose another with --{what}-port"
                    )


# ---------------------------------------------------------------------------------------------
# Functions


@dataclass
class Instance:
    """One execution environment: the emulator and its runtime, one invocation at a time."""

    fn: RieFunction
    number: int
    lock: threading.Lock = field(default_factory=threading.Lock)

    def runtime_pid(self) -> int | None:
        """The `bootstrap` process (the emulator's child, inside the jail)."""
        rie = self.fn.pid
        return None if rie is None else child_pid(rie)


@dataclass(frozen=True)
class Invoked:
    """One invocation's outcome with what `sam local invoke` prints besides the payload."""

    result: LambdaResult
    instance: int
    cold: bool
    init_duration_ms: float | None
    duration_ms: float | None
    log: str


class FunctionPool:
    """Execution environments of one function, as Lambda scales them: an invocation takes an
    idle one, or starts a new one (a cold start) while fewer than `max_instances` run, or waits.
    An environment whose emulator died is replaced; one whose runtime died is re-initialised by
    the emulator on its next invocation, as Lambda does after `Runtime.ExitError`.
    """

    def __init__(
        self,
        name: str,
        root: Path,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        max_instances: int = 4,
    ) -> None:
        self.name = name
        self.root = root
        self.env = dict(env)
        self.log_dir = log_dir
        self.max_instances = max_instances
        self._instances: list[Instance] = []
        self._made = 0
        self._cond = threading.Condition()
        self.invocations = 0
        self.cold_starts = 0

    def _acquire(self, deadline: float) -> tuple[Instance, bool]:
        with self._cond:
            while True:
                self._instances = [i for i in self._instances if i.fn.alive() or i.lock.locked()]
                for inst in self._instances:
                    if inst.lock.acquire(blocking=False):
                        return inst, False
                if len(self._instances) < self.max_instances:
                    self._made += 1
                    log_path = self.log_dir / f"{self.name}-{self._made}.log"
                    fn = RieFunction(Jail(self.root, SANDBOX_UID, SANDBOX_UID), self.env, log_path)
                    inst = Instance(fn, self._made)
                    inst.lock.acquire()
                    self._instances.append(inst)
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InvokeTimeout(f"{self.name}: no execution environment free in time")
                self._cond.wait(timeout=min(left, 0.5))
        try:
            inst.fn.start()
        except SandboxError:
            self._release(inst, drop=True)
            raise
        self.cold_starts += 1
        return inst, True

    def _release(self, inst: Instance, *, drop: bool = False) -> None:
        with self._cond:
            if drop or not inst.fn.alive():
                inst.fn.stop()
                with contextlib.suppress(ValueError):
                    self._instances.remove(inst)
            inst.lock.release()
            self._cond.notify()

    def invoke_detailed(self, event: Any, timeout: float) -> Invoked:
        """One invocation in an idle (or new) environment."""
        deadline = time.monotonic() + timeout
        inst, _ = self._acquire(deadline)
        try:
            return self._invoke(inst, event, max(deadline - time.monotonic(), 0.1))
        finally:
            self._release(inst)

    def invoke_in(self, inst: Instance, event: Any, timeout: float) -> Invoked:
        """An invocation in one given environment (the fault scenarios use it to see what that
        environment does next)."""
        if not inst.lock.acquire(timeout=timeout):
            raise InvokeTimeout(f"{self.name}: environment {inst.number} stayed busy")
        try:
            return self._invoke(inst, event, timeout)
        finally:
            self._release(inst)

    def _invoke(self, inst: Instance, event: Any, timeout: float) -> Invoked:
        """`event` to `inst` (held by the caller); its answer, and this invocation's log with
        what the emulator reports of it. Cold: an init ran for it (a new environment, or a
        runtime started again after the previous one exited)."""
        log_path = inst.fn.log_path
        before = log_path.stat().st_size if log_path.exists() else 0
        try:
            out = inst.fn.invoke(event, timeout=timeout)
        except OSError as exc:  # urllib's errors and timeouts are OSErrors
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                raise InvokeTimeout(f"{self.name}: no answer within {timeout:.0f} s") from exc
            # The emulator itself went away: what Lambda reports when an environment dies.
            doc = {"errorType": "Runtime.ExitError", "errorMessage": f"{self.name}: {exc}"}
            return Invoked(
                LambdaResult(json.dumps(doc).encode(), True), inst.number, False, None, None, ""
            )
        self.invocations += 1
        text = log_path.read_bytes()[before:].decode(errors="replace")
        init = init_duration_ms(text)
        return Invoked(
            LambdaResult(out.body, out.is_function_error or out.status >= 500),
            inst.number,
            init is not None,
            init,
            invoke_duration_ms(text),
            text,
        )

    def instances(self) -> list[Instance]:
        with self._cond:
            return list(self._instances)

    def invoke(self, event: dict[str, Any], timeout: float) -> LambdaResult:
        """The front door's `Invoker`."""
        return self.invoke_detailed(event, timeout).result

    def runtime_pids(self) -> list[int]:
        """The running `bootstrap` processes (for the fault scenarios)."""
        with self._cond:
            return [p for p in (i.runtime_pid() for i in self._instances) if p is not None]

    def all_alive(self) -> bool:
        """Every environment's emulator still runs."""
        with self._cond:
            return all(i.fn.alive() for i in self._instances)

    def busy(self) -> list[Instance]:
        with self._cond:
            return [i for i in self._instances if i.lock.locked()]

    def stop(self) -> None:
        with self._cond:
            for inst in self._instances:
                inst.fn.stop()
            self._instances.clear()


# ---------------------------------------------------------------------------------------------
# The Invoke API


def _invoke_server(
    pools: Mapping[str, FunctionPool], port: int, timeouts: Mapping[str, float]
) -> ThreadingHTTPServer:
    """Lambda's Invoke API (RequestResponse) for the running functions, on 127.0.0.1."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("invoke api: %s", format % args)

        def _answer(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length)
            match = INVOKE_PATH.match(self.path.split("?", 1)[0])
            if match is None or match.group(1) not in pools:
                doc = {"Type": "User", "message": f"Function not found: {self.path}"}
                self._answer(
                    404, json.dumps(doc).encode(), {"x-amzn-ErrorType": "ResourceNotFoundException"}
                )
                return
            name = match.group(1)
            try:
                event = json.loads(payload or b"{}")
            except ValueError:
                doc = {"Type": "User", "message": "Could not parse request body into json"}
                self._answer(
                    400,
                    json.dumps(doc).encode(),
                    {"x-amzn-ErrorType": "InvalidRequestContentException"},
                )
                return
            try:
                done = pools[name].invoke_detailed(event, timeouts[name])
            except InvokeTimeout as exc:
                self._answer(504, json.dumps({"message": str(exc)}).encode(), {})
                return
            headers = {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"}
            if done.result.function_error:
                headers["X-Amz-Function-Error"] = "Unhandled"
            headers["X-Local-Cold-Start"] = "true" if done.cold else "false"
            if done.init_duration_ms is not None:
                headers["X-Local-Init-Duration-Ms"] = f"{done.init_duration_ms:.2f}"
            if done.duration_ms is not None:
                headers["X-Local-Duration-Ms"] = f"{done.duration_ms:.2f}"
            if (self.headers.get("X-Amz-Log-Type") or "").lower() == "tail":
                # Lambda's LogType=Tail: the last 4 KB of the invocation's log, base64.
                tail_bytes = done.log.encode()[-4096:]
                headers["X-Amz-Log-Result"] = base64.b64encode(tail_bytes).decode()
            self._answer(200, done.result.payload, headers)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="invoke-api", daemon=True).start()
    return server


# ---------------------------------------------------------------------------------------------
# The stack


def _by_trigger(functions: Mapping[str, FunctionDeclaration], kind: str) -> list[str]:
    return sorted(n for n, d in functions.items() if d.trigger.kind == kind)


@dataclass
class LocalStack:
    """Everything one stack needs on 127.0.0.1; use as a context manager or start()/stop()."""

    dist: Path = ROOT / "dist"
    app: Path = ROOT / "app"
    ports: Ports = field(default_factory=Ports)
    ttl_seconds: int = 300
    """The authorizer cache's TTL (authorizerCacheTtlSeconds: 300 by default)."""
    max_instances: int = 4
    only: Sequence[str] | None = None
    """Start only these functions (and what they need): `python -m local invoke` uses it."""
    server: bool = True
    work: Path | None = None
    say: Callable[[str], None] = print

    # set by start()
    artifacts: Artifacts | None = None
    functions: dict[str, FunctionDeclaration] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    postgres: Postgres | None = None
    moto_server: MotoServer | None = None
    moto: Moto | None = None
    database: Database | None = None
    secrets: Secrets | None = None
    pools: dict[str, FunctionPool] = field(default_factory=dict)
    server_process: JailedServer | None = None
    front: FrontDoor | None = None
    token: str | None = None
    migration: dict[str, Any] | None = None
    _servers: list[Any] = field(default_factory=list)
    _policy: Policy | None = None
    _server_root: Path | None = None

    @property
    def workdir(self) -> Path:
        return self.work or self.dist / "local"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.server}"

    @property
    def invoke_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.invoke}"

    # -- checks before anything starts ------------------------------------------------------

    def preflight(self) -> None:
        """Everything that can be wrong before a process starts, each as one line."""
        if os.geteuid() != 0:
            raise SandboxError(
                "the minimal roots need root (mount and PID namespaces, chroot): run as root"
            )
        rie = rie_path()
        if not rie.is_file():
            raise SandboxError(f"aws-lambda-rie not found at {rie}: run `make setup`")
        require_tool("psql", "install postgresql-client (apt-get install -y postgresql-client)")
        require_tool("unshare", "install util-linux (apt-get install -y util-linux)")
        self.functions = declared(self.app)
        self.artifacts = check_dist(self.dist, self.functions, self.app)
        if self.only is not None:
            unknown = sorted(set(self.only) - set(self.functions))
            if unknown:
                raise SandboxError(
                    f"no declared function {', '.join(unknown)}; {self.app} declares "
                    f"{', '.join(sorted(self.functions))}"
                )
        self.routes = load_routes(self.app / "routes.json") if self._serves_api else ()
        self.ports.check_free()

    @property
    def _serves_api(self) -> bool:
        return self.only is None and bool(_by_trigger(self.functions, "api"))

    def _wanted(self) -> list[str]:
        """The functions to serve: every declared one but the migration, which the stack runs
        once at start; when asked for by name (``invoke migrate``), the migration too, and then
        the stack leaves the first run to that invocation."""
        if self.only is not None:
            return list(self.only)
        return [n for n in sorted(self.functions) if self.functions[n].trigger.kind != "migration"]

    def _needs_database(self) -> bool:
        return (self.server and self.only is None) or any(
            self.functions[n].database for n in self._wanted()
        )

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> LocalStack:
        started = time.monotonic()
        self.preflight()
        assert self.artifacts is not None
        self._policy = load_policy(self.artifacts.runtime)
        work = self.workdir
        work.mkdir(parents=True, exist_ok=True)
        (work / STATE).unlink(missing_ok=True)
        logs = work / "logs"
        _remove_tree(logs)  # this run's logs only
        logs.mkdir()
        try:
            self._start(work, logs)
        except BaseException:
            self.stop()
            raise
        self.say(f"local stack up in {time.monotonic() - started:.1f} s; logs in {logs}")
        return self

    def _start(self, work: Path, logs: Path) -> None:
        assert self.artifacts is not None and self._policy is not None
        ca: Path | None = None
        if self._needs_database():
            self.say(f"postgresql: 127.0.0.1:{self.ports.postgres}")
            self.postgres = Postgres(
                self.ports.postgres,
                # The cluster's owner (postgres) must reach it: /tmp, as postgres.sh defaults.
                Path(f"/tmp/rust-on-aws-local-pg-{self.ports.postgres}"),  # noqa: S108
            ).start()
            ca = self.postgres.ca
            self.database = Database.create(self.postgres.admin_url, prefix="local")
        self.moto_server = MotoServer(logs / "moto.log")
        self.moto = self.moto_server.start()
        self.say(f"moto: {self.moto.endpoint}")
        self.moto.client("ecr").create_repository(repositoryName=ECR_REPOSITORY)
        if self.database is not None:
            self.secrets = Secrets.create(self.moto, self.database)
        refs = references(
            stack="local", region=REGION, account=ACCOUNT, ecr_repository=ECR_REPOSITORY
        )
        wiring = Wiring(moto=self.moto, database=self.database, secrets=self.secrets)
        roots = work / "roots"
        roots.mkdir(exist_ok=True)

        def pool(name: str) -> FunctionPool:
            assert self.artifacts is not None and self._policy is not None
            root = roots / name
            _remove_tree(root)
            function_root(
                root,
                self._policy,
                arch=self.artifacts.architecture,
                rie=rie_path(),
                archive=self.artifacts.zip(name),
                ca=ca,
            )
            env = function_environment(
                self._policy,
                name,
                self.functions[name],
                wiring,
                declared=declared_env(self.functions[name], refs),
            )
            return FunctionPool(name, root, env, logs, max_instances=self.max_instances)

        if self.database is not None:
            for name in _by_trigger(self.functions, "migration"):
                if name in self._wanted():
                    continue  # the caller invokes it: its run is the first one
                migrate = pool(name)
                done = migrate.invoke_detailed({}, timeout=120)
                migrate.stop()
                if done.result.function_error:
                    raise SandboxError(
                        f"the migration ({name}) failed: {done.result.payload.decode()[:500]}\n"
                        f"{done.log[-2000:]}"
                    )
                self.migration = json.loads(done.result.payload)
                self.say(f"migration: {name} ok")
        for name in self._wanted():
            self.pools[name] = pool(name)
        self.say(f"functions: {', '.join(self.pools)} (started on first invocation)")
        timeouts = {n: float(self.functions[n].timeout) + 5 for n in self.pools}
        self._servers.append(_invoke_server(self.pools, self.ports.invoke, timeouts))
        self._start_server_and_api(roots, logs, ca)
        self._write_state(work)

    def _start_server_and_api(self, roots: Path, logs: Path, ca: Path | None) -> None:
        assert self.artifacts is not None and self._policy is not None and self.moto is not None
        if self.server and self.only is None:
            assert self.database is not None and self.secrets is not None
            _remove_tree(roots / "server")
            self._server_root = server_root(
                roots / "server",
                self._policy,
                arch=self.artifacts.architecture,
                server_dir=self.artifacts.server_dir,
                ca=ca,
            )
            env = server_environment(self.database, self.secrets, self.moto)
            self.server_process = JailedServer(
                server_jail(self._server_root),
                f"/app/{self.artifacts.server_binary}",
                env,
                logs / "server.log",
                port=self.ports.server,
            ).start()
            self.server_process.wait_healthy(timeout=60)
            self.say(f"server: {self.server_url}")
        if self._serves_api:
            authorizers = _by_trigger(self.functions, "api-authorizer")
            handlers = _by_trigger(self.functions, "api")
            self.front = FrontDoor(
                self.routes,
                authorizer=self.pools[authorizers[0]].invoke,
                handler=self.pools[handlers[0]].invoke,
                ttl_seconds=self.ttl_seconds,
            )
            self._servers.insert(0, serve(self.front, "127.0.0.1", self.ports.api))
            self.say(f"api: {self.api_url}")
        if self.server_process is not None:
            scopes = sorted({r.scope for r in self.routes}) or ["devices:read"]
            self.token = self.issue_token(scopes)

    def issue_token(self, scopes: Sequence[str], owner: str = OWNER) -> str:
        """A token issued by the real `server issue-token` (the server's root and secret)."""
        if self._server_root is None or self.artifacts is None:
            raise SandboxError("tokens are issued by the server: start the stack with the server")
        assert self.database is not None and self.secrets is not None and self.moto is not None
        env = server_environment(self.database, self.secrets, self.moto)
        return issue_token(
            self._server_root, self.artifacts.server_binary, env, owner, list(scopes)
        )

    def _write_state(self, work: Path) -> None:
        doc = {
            "pid": os.getpid(),
            "api": self.api_url if self.front is not None else None,
            "server": self.server_url if self.server_process is not None else None,
            "invoke": self.invoke_url,
            "functions": sorted(self.pools),
            "moto": self.moto.endpoint if self.moto else None,
            "database": self.database.url if self.database else None,
            "token": self.token,
        }
        tmp = work / f".{STATE}.tmp"
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(work / STATE)

    def stop(self) -> None:
        """Everything down, in reverse; safe to call twice and after a failed start."""
        with contextlib.suppress(OSError):
            (self.workdir / STATE).unlink()
        for server in self._servers:
            if isinstance(server, ThreadingHTTPServer):
                server.shutdown()
                server.server_close()
            else:
                server.close()
        self._servers.clear()
        if self.server_process is not None:
            self.server_process.stop()
            self.server_process = None
        for pool in self.pools.values():
            pool.stop()
        self.pools.clear()
        if self.moto_server is not None:
            self.moto_server.stop()
            self.moto_server = None
        if self.database is not None:
            self.database.drop()
            self.database = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the CLI prints -----------------------------------------------------------------

    def banner(self) -> str:
        lines = []
        if self.front is not None:
            lines.append(f"API (through the authorizer): {self.api_url}")
        if self.server_process is not None:
            lines.append(f"server:                       {self.server_url}")
        lines.append(f"Lambda Invoke API:            {self.invoke_url}")
        if self.token is not None:
            lines.append(f"token (every scope):          {self.token}")
            if self.routes:
                lines.append(
                    f'try: curl -H "Authorization: Bearer {self.token}" {self.api_url}'
                    f"{self.routes[0].path}"
                )
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)


def _remove_tree(path: Path) -> None:
    """A previous run's root, gone."""
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# A running stack, from another process


def running(dist: Path = ROOT / "dist") -> dict[str, Any] | None:
    """The state of a `make local` running from `dist`, or None (no state, or its process gone)."""
    path = dist / "local" / STATE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(doc["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return dict(doc)


def invoke_running(
    state: Mapping[str, Any], function: str, event: Any, *, timeout: float = 120.0
) -> tuple[int, bytes, dict[str, str]]:
    """POST `event` to the running stack's Invoke API for `function`, asking for the log tail
    as Lambda's LogType=Tail does: (status, payload, lower-cased headers)."""
    url = urllib.parse.urlsplit(str(state["invoke"]))
    if url.scheme != "http" or url.hostname != "127.0.0.1" or url.port is None:
        raise SandboxError(f"state file names {state['invoke']!r}: not a 127.0.0.1 URL")
    status, headers, body = request(
        url.port,
        "POST",
        f"/2015-03-31/functions/{function}/invocations",
        body=json.dumps(event).encode(),
        headers={"X-Amz-Log-Type": "Tail"},
        timeout=timeout,
    )
    if status <= 0:
        raise SandboxError(f"the running stack's Invoke API at {state['invoke']} does not answer")
    return status, body, headers


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM both raise KeyboardInterrupt, so Ctrl-C and `kill` stop the stack the
    same clean way. SIGINT is installed explicitly: a process started in the background by a
    non-interactive shell (`make local &`, a CI script) inherits SIGINT ignored, and Python then
    leaves it ignored, so Ctrl-C or `kill -INT` would do nothing."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
