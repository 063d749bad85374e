"""Run artifacts the way Lambda and ECS run them, without Docker.

A *minimal root* holds only what the runtime policy (``build/policies/<runtime>.json``) says the
runtime provides: glibc's libraries and ``libgcc_s`` copied from this host into ``/usr/lib64``
(``/lib64`` links to it, as on Amazon Linux 2023), the loader at the policy's path, empty
``/proc``, ``/tmp``, ``/var/task``, ``/opt``, a few device nodes and a small ``/etc``. Nothing
else: no libpq, no libssl, no ``/usr/lib/x86_64-linux-gnu``.

A *jail* runs a command in such a root: a new mount and PID namespace (``unshare``), the root
bind-mounted read-only onto itself, ``/proc`` mounted for the new PID namespace (``$ORIGIN`` in an
rpath needs it), ``/tmp`` a writable tmpfs, then ``chroot`` as a non-root user. The network
namespace is shared on purpose: 127.0.0.1 reaches this host's PostgreSQL and moto.

:class:`RieFunction` starts ``aws-lambda-rie`` (a static binary, copied into the root) in a jail
with Lambda's environment; it executes ``/var/task/bootstrap`` as Lambda does and is invoked over
its HTTP API. :class:`JailedServer` runs the ECS server binary the same way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

from elftools.elf.elffile import ELFFile

from build.policy import Policy

log = logging.getLogger(__name__)

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
RIE_IN_ROOT = "/var/rapid/aws-lambda-rie"
"""Where the emulator lives in the root: outside every directory on LD_LIBRARY_PATH and PATH."""
SANDBOX_UID = 993
"""Lambda runs the runtime as an unprivileged user (sbx_user1051 in the real sandbox)."""
APP_UID = 10001
"""The ECS image's non-root user."""
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
UNLISTED_HOST = "postgres.unlisted.test"
"""A name every root's /etc/hosts maps to 127.0.0.1 and the test PostgreSQL's certificate does
not list (it names 127.0.0.1 and localhost): connecting by it must fail verify-full."""
LOCAL_URL_PREFIX = "http://127.0.0.1:"
DEVICES = ("null", "zero", "random", "urandom")
_INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
_REPORT_INIT = re.compile(r"REPORT RequestId: \S+\s+Init Duration: ([0-9.]+) ms")
_REPORT_DURATION = re.compile(
    r"REPORT RequestId: \S+\s+(?:Init Duration: [0-9.]+ ms\s+)?Duration: ([0-9.]+) ms"
)


def init_duration_ms(log: str) -> float | None:
    """The first init phase's duration in an emulator log: exec of ``bootstrap`` until its
    first ``/next`` call, from the ``INIT REPORT(durationMs: ...)`` line, the figure Lambda
    bills as "Init Duration". (The emulator's REPORT line also prints an "Init Duration", but it
    times only the hand-off of the asynchronous init, a few microseconds.)"""
    match = _INIT_REPORT.search(log)
    return float(match.group(1)) if match else None


def invoke_duration_ms(log: str) -> float | None:
    """The first invocation's "Duration" in an emulator log (its REPORT line)."""
    match = _REPORT_DURATION.search(log)
    return float(match.group(1)) if match else None


class SandboxError(Exception):
    """The harness cannot build a root or start a process: the message says what to fix."""


# ---------------------------------------------------------------------------------------------
# Small helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float, alive: Any = None) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections; ``alive()`` false aborts early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise SandboxError(f"the process meant to listen on 127.0.0.1:{port} exited")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise SandboxError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[int, bytes]:
    """One HTTP request to this machine; returns (status, body) for every status, errors
    included. Only ``http://127.0.0.1:<port>/...``: nothing here ever reaches another host."""
    if not url.startswith(LOCAL_URL_PREFIX):
        raise SandboxError(f"refusing to request {url!r}: only {LOCAL_URL_PREFIX}<port>/ is local")
    req = urllib.request.Request(  # noqa: S310 (the scheme and host are checked above)
        url, data=body, method=method, headers=dict(headers or {})
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


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
    """One request to 127.0.0.1:`port` on a new connection: (status, lower-cased headers, body);
    status 0 when the connection is refused, -1 when it broke before an answer (the load tool
    counts both; `http` raises instead)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=timeout)
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
    except (HTTPException, OSError):
        return -1, {}, b""
    finally:
        conn.close()


def start_listening(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    log_path: Path,
    port: int,
    timeout: float,
    what: str,
) -> subprocess.Popen[bytes]:
    """Start `argv` (its own session, output appended to `log_path`) and wait until it listens
    on 127.0.0.1:`port`; killed, and `SandboxError` naming `what` with the log's tail, if it
    exits or does not listen in `timeout` seconds."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=timeout, alive=lambda: process.poll() is None)
    except SandboxError as exc:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        raise SandboxError(f"{what} did not start: {exc}\n{tail(log_path)}") from None
    return process


# ---------------------------------------------------------------------------------------------
# The minimal root


@dataclass(frozen=True)
class RootLayout:
    """What :func:`build_root` put where (paths inside the root)."""

    path: Path
    libraries: tuple[str, ...]
    """SONAMEs copied into /usr/lib64."""
    loader: str


def host_library_dirs(policy: Policy, arch: str) -> tuple[Path, ...]:
    """Where this (Debian) host keeps glibc and libgcc_s for ``arch``."""
    multiarch = policy.arch(arch).host_multiarch
    return (Path("/lib") / multiarch, Path("/usr/lib") / multiarch, Path("/lib64"))


def resolve_provided(
    policy: Policy, arch: str, search_dirs: Sequence[Path] | None = None
) -> dict[str, Path]:
    """Each SONAME the policy says the runtime provides -> the host file standing in for it.

    Loaders of other architectures are left out. A provided library this host lacks is an
    error: the root would be poorer than the runtime and a test could fail for the wrong reason.
    """
    dirs = tuple(search_dirs) if search_dirs is not None else host_library_dirs(policy, arch)
    own_loader = Path(policy.arch(arch).loader).name
    other_loaders = {
        Path(a.loader).name for name, a in policy.architectures.items() if name != arch
    } - {own_loader}
    found: dict[str, Path] = {}
    for soname in sorted(policy.provided - other_loaders):
        for directory in dirs:
            candidate = directory / soname
            if candidate.exists():
                found[soname] = candidate.resolve()
                break
        else:
            raise SandboxError(
                f"runtime policy {policy.path.name} lists {soname} as provided but this host has "
                f"no {soname} in {', '.join(map(str, dirs))}; install the host's libc6 and "
                "libgcc-s1 packages"
            )
    return found


def build_root(
    dest: Path,
    policy: Policy,
    *,
    arch: str = "x86_64",
    search_dirs: Sequence[Path] | None = None,
    users: Mapping[str, int] | None = None,
) -> RootLayout:
    """Create a minimal root at ``dest`` holding only what ``policy`` says the runtime provides.

    ``users`` maps user names to uids for ``/etc/passwd`` (each with a group of the same id).
    """
    libs = resolve_provided(policy, arch, search_dirs)
    dest.mkdir(parents=True, exist_ok=True)
    lib64 = dest / "usr" / "lib64"
    lib64.mkdir(parents=True)
    for soname, source in libs.items():
        shutil.copy2(source, lib64 / soname)
        (lib64 / soname).chmod(0o755)
    # Amazon Linux 2023 layout: /lib64 -> usr/lib64 (and /lib -> usr/lib).
    (dest / "lib64").symlink_to("usr/lib64")
    loader = policy.arch(arch).loader
    if not (dest / loader.lstrip("/")).exists():
        raise SandboxError(
            f"the loader {loader} of runtime policy {policy.path.name} is not in the root after "
            f"copying {', '.join(sorted(libs))}; the policy must list {Path(loader).name}"
        )
    for sub in ("proc", "tmp", "dev", "opt", "var/task", "var/runtime", "var/rapid", "etc/pki"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").chmod(0o1777)
    for device in DEVICES:
        (dest / "dev" / device).touch()
    _write_etc(dest / "etc", users or {"sbx_user1051": SANDBOX_UID})
    _write_ld_cache(dest)
    return RootLayout(path=dest, libraries=tuple(sorted(libs)), loader=loader)


def _write_etc(etc: Path, users: Mapping[str, int]) -> None:
    passwd = ["root:x:0:0:root:/root:/sbin/nologin"]
    group = ["root:x:0:"]
    for name, uid in users.items():
        passwd.append(f"{name}:x:{uid}:{uid}::/tmp:/sbin/nologin")
        group.append(f"{name}:x:{uid}:")
    (etc / "passwd").write_text("\n".join(passwd) + "\n")
    (etc / "group").write_text("\n".join(group) + "\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost {UNLISTED_HOST}\n::1 localhost\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    (etc / "resolv.conf").write_text("")
    # The runtime image ships CA certificates (ca-certificates); the host's bundle stands in.
    certs = etc / "pki" / "tls" / "certs"
    certs.mkdir(parents=True)
    if HOST_CA_BUNDLE.is_file():
        shutil.copyfile(HOST_CA_BUNDLE, certs / "ca-bundle.crt")
    (etc / "ssl").mkdir()
    (etc / "ssl" / "certs").symlink_to("../pki/tls/certs")


def _write_ld_cache(root: Path) -> None:
    """/etc/ld.so.cache listing /usr/lib64, as the runtime image has.

    The host's loader (Debian's) searches /lib/x86_64-linux-gnu by default, Amazon Linux's
    searches /lib64 and /usr/lib64; the cache makes a process that sets no LD_LIBRARY_PATH (the
    ECS server) find the runtime's libraries the way it would on Amazon Linux.
    """
    (root / "etc" / "ld.so.conf").write_text("/usr/lib64\n")
    ldconfig = _tool("ldconfig")
    proc = subprocess.run([ldconfig, "-r", str(root)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"ldconfig -r {root} failed: {proc.stderr.strip()}")


def unpack_zip(archive: Path, dest: Path) -> list[str]:
    """Unpack ``archive`` into ``dest`` as Lambda does, keeping each entry's Unix mode.

    Entries that would land outside ``dest`` (absolute paths, ``..``) are refused.
    """
    names: list[str] = []
    dest = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if info.filename.startswith("/") or not target.is_relative_to(dest):
                raise SandboxError(
                    f"{archive.name}: entry {info.filename!r} points outside the task root; "
                    "rebuild the zip with `make build`"
                )
            mode = (info.external_attr >> 16) & 0o7777
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
            target.chmod(mode or 0o644)
            names.append(info.filename)
    return names


def copy_tree(src: Path, dest: Path) -> None:
    """Copy a folder (dist/server) keeping modes, as ``COPY`` in a Dockerfile does."""
    shutil.copytree(src, dest, symlinks=True, copy_function=shutil.copy2)


# ---------------------------------------------------------------------------------------------
# Jails


@dataclass(frozen=True)
class Jail:
    """How to run commands inside a minimal root."""

    root: Path
    uid: int
    gid: int

    def argv(self, command: Sequence[str]) -> list[str]:
        """The host command line that runs ``command`` (paths inside the root) in the jail."""
        tools = {name: _tool(name) for name in ("unshare", "mount", "chroot", "sh")}
        script = (
            "set -e; R=$1; shift; "
            '"$MOUNT" --bind "$R" "$R"; "$MOUNT" -o remount,bind,ro "$R"; '
            '"$MOUNT" -t proc proc "$R/proc"; '
            '"$MOUNT" -t tmpfs -o size=512m,mode=1777 tmpfs "$R/tmp"; '
            f"for d in {' '.join(DEVICES)}; do "
            '"$MOUNT" --bind "/dev/$d" "$R/dev/$d"; done; '
            f'C=$CHROOT; unset MOUNT CHROOT; exec "$C" --userspec={self.uid}:{self.gid} "$R" "$@"'
        )
        # The wrapper runs on the host; it finds its tools through MOUNT and CHROOT, set by
        # `env`, so the jailed process's own environment stays exactly what the caller gave.
        return [
            "/usr/bin/env",
            f"MOUNT={tools['mount']}",
            f"CHROOT={tools['chroot']}",
            tools["unshare"],
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            tools["sh"],
            "-c",
            script,
            "jail",
            str(self.root),
            *command,
        ]

    def run(
        self, command: Sequence[str], *, env: Mapping[str, str], timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the jail to completion (for one-shot commands like migrate)."""
        return subprocess.run(
            self.argv(command),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _tool(name: str) -> str:
    for directory in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
        if Path(directory, name).is_file():
            return f"{directory}/{name}"
    raise SandboxError(
        f"{name} not found: the jail needs unshare and mount (util-linux), chroot (coreutils) "
        "and sh; install util-linux"
    )


def child_pid(pid: int) -> int | None:
    """The first child of ``pid`` (unshare --fork's child: the jailed process; the emulator's:
    the runtime). Every thread's list is read: a Go program (the emulator) starts its children
    from whichever thread runs, and /proc lists a child under the thread that forked it."""
    try:
        tasks = sorted(int(t.name) for t in Path(f"/proc/{pid}/task").iterdir())
    except (OSError, ValueError):
        return None
    for task in [pid, *[t for t in tasks if t != pid]]:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        if text:
            return int(text[0])
    return None


# ---------------------------------------------------------------------------------------------
# Lambda's environment


def lambda_environment(
    policy: Policy,
    *,
    function_name: str,
    region: str,
    memory_mb: int = 128,
    timeout_s: int = 30,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables Lambda sets for an OS-only runtime, plus the function's own ``extra``.

    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    ``LD_LIBRARY_PATH`` comes from the policy, in Lambda's order (/lib64 and /usr/lib64 first).
    """
    expand = {"$LAMBDA_RUNTIME_DIR": RUNTIME_DIR, "$LAMBDA_TASK_ROOT": TASK_ROOT}
    ld_path = []
    for entry in policy.ld_library_path:
        expanded = entry
        for var, value in expand.items():
            expanded = expanded.replace(var, value)
        ld_path.append(expanded)
    env = {
        "LAMBDA_TASK_ROOT": TASK_ROOT,
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "LD_LIBRARY_PATH": ":".join(ld_path),
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": "bootstrap",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # Dummy credentials: the emulator hands them to the runtime as Lambda hands the role's.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------
# The emulator


@dataclass
class Invocation:
    """One invoke through the emulator's HTTP API."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def is_function_error(self) -> bool:
        """The runtime reported an error (the emulator answers with errorType/errorMessage)."""
        try:
            doc = self.json()
        except ValueError:
            return False
        return isinstance(doc, dict) and "errorType" in doc and "errorMessage" in doc


@dataclass
class RieFunction:
    """One function's ``bootstrap`` under ``aws-lambda-rie`` in a jail; use as a context manager."""

    jail: Jail
    env: Mapping[str, str]
    log_path: Path
    rie_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rie_port}/2015-03-31/functions/function/invocations"

    def start(self, *, timeout: float = 30.0) -> RieFunction:
        command = [
            RIE_IN_ROOT,
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.rie_port}",
            "--runtime-api-address",
            f"127.0.0.1:{self.api_port}",
            "--log-level",
            "info",
        ]
        self.process = start_listening(
            self.jail.argv(command),
            env=self.env,
            log_path=self.log_path,
            port=self.rie_port,
            timeout=timeout,
            what="the emulator",
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The emulator's own PID (the jail's child); its child is the runtime (`bootstrap`)."""
        return None if self.process is None else child_pid(self.process.pid)

    def invoke(self, event: Any, *, timeout: float = 60.0) -> Invocation:
        """POST ``event`` (bytes sent as they are, anything else as JSON)."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        status, payload = http("POST", self.url, body, timeout=timeout)
        return Invocation(status, payload)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def init_duration_ms(self) -> float | None:
        """The init phase's duration (`init_duration_ms` of the whole log)."""
        return init_duration_ms(self.log())

    def report_init_duration_ms(self) -> float | None:
        """The "Init Duration" of the emulator's first REPORT line, kept for comparison."""
        match = _REPORT_INIT.search(self.log())
        return float(match.group(1)) if match else None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=30)

    def __enter__(self) -> RieFunction:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rie_path() -> Path:
    """Where `make setup` installs the emulator (AWS_LAMBDA_RIE overrides)."""
    if os.environ.get("AWS_LAMBDA_RIE"):
        return Path(os.environ["AWS_LAMBDA_RIE"])
    gopath = ""
    if shutil.which("go"):
        gopath = subprocess.run(
            ["go", "env", "GOPATH"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return Path(gopath or Path.home() / "go") / "bin" / "aws-lambda-rie"


def install_rie(rie: Path, root: Path) -> None:
    """Copy the emulator into the root; refuse a dynamically linked one (the root has no libc
    for it to borrow: `make setup` builds it with CGO_ENABLED=0)."""
    if not rie.is_file():
        raise SandboxError(f"aws-lambda-rie not found at {rie}: run `make setup`")
    if not is_static_elf(rie):
        raise SandboxError(
            f"{rie} is dynamically linked: rebuild it static with `rm {rie} && make setup`"
        )
    target = root / RIE_IN_ROOT.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(rie, target)
    target.chmod(0o755)


def is_static_elf(path: Path) -> bool:
    """True when the ELF file has no PT_INTERP (needs no loader, no libc)."""
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        return not any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())


# ---------------------------------------------------------------------------------------------
# The ECS server


@dataclass
class JailedServer:
    """The server binary serving HTTP in a jail, as the ECS task runs it (PID 1, non-root)."""

    jail: Jail
    binary: str
    """Path inside the root."""
    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> JailedServer:
        env = {**self.env, "PORT": str(self.port)}
        self.started_at = time.monotonic()
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.jail.argv([self.binary, "serve"]),
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_healthy(self, *, timeout: float = 60.0, path: str = "/healthz") -> float:
        """Poll ``path`` (``/healthz``: the database answers too; ``/livez``: the process
        serves) until it answers 200; returns seconds since :meth:`start`."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise SandboxError(
                    f"the server exited before it was healthy:\n{tail(self.log_path)}"
                )
            with contextlib.suppress(OSError):
                status, _ = http("GET", f"{self.base_url}{path}", timeout=2)
                if status == 200:
                    return time.monotonic() - self.started_at
            time.sleep(0.01)
        raise SandboxError(f"{path} not 200 after {timeout:.0f}s:\n{tail(self.log_path)}")

    @property
    def pid(self) -> int | None:
        """The server's own PID (the jail's child), to tell a restart from the same process."""
        return None if self.process is None else child_pid(self.process.pid)

    def request(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        return http(method, self.base_url + path, data, headers=hdrs, timeout=30)

    def terminate(self, *, timeout: float = 30.0) -> int:
        """SIGTERM to the server (ECS's stop signal), then its exit status."""
        assert self.process is not None
        pid = None
        deadline = time.monotonic() + 5
        while pid is None and time.monotonic() < deadline:
            pid = child_pid(self.process.pid)
            if pid is None:
                time.sleep(0.01)
        if pid is None:
            raise SandboxError("the jailed server has no process to signal")
        os.kill(pid, signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
