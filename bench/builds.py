"""The four ways to build the Lambdas of app/, and the cold and no-op build benchmarks.

1. ``ours``: ``python -m build all`` (what ``make build`` runs): one compile of every binary
   the crates declare (the functions and the service), audit, bundle, reproducible zips,
   manifest.
2. ``cargo``: plain ``cargo build --release --locked`` of the same binaries: the floor.
3. ``cargo-lambda``: ``cargo lambda build --release --output-format zip`` of the functions
   in one run (cargo-lambda from PyPI; its defaults: zig as linker, ``panic=abort``,
   ``-C target-cpu=haswell``).
4. ``per-function``: one ``cargo lambda build --bin <fn>`` per Lambda, each in its own target
   folder, one after the other: how SAM (``BuildMethod: rust-cargolambda``, a scratch folder
   per function) and cargo-lambda-cdk (one bundling per ``RustFunction``) build a workspace.

Each cold run gets a fresh ``CARGO_TARGET_DIR`` under the work folder; the registry
(``~/.cargo/registry``) is shared, since downloads are not what is measured. The last cold
run of each variant is kept as its warm folder, used by the no-op and size benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from bench.measure import Run, busy_processes, combine, timed
from build.cargo import discover

RUNTIME = "provided.al2023"


@dataclass(frozen=True)
class Context:
    """Where things are: the repository, its virtualenv, the work folder."""

    repo: Path
    work: Path
    base: Path | None = None
    """A checkout of ``--base REF`` (bench/base.py): today's code, built side by side with the
    work tree by the ``base`` and ``cargo-base`` variants."""

    @property
    def venv_bin(self) -> Path:
        return self.repo / ".venv" / "bin"

    @property
    def python(self) -> Path:
        return self.venv_bin / "python"

    @property
    def app(self) -> Path:
        """The snapshot of app/ that every variant builds."""
        return self.work / "app"

    @property
    def base_repo(self) -> Path:
        if self.base is None:
            raise RuntimeError("the base and cargo-base variants need --base REF")
        return self.base

    @cached_property
    def lambdas(self) -> tuple[str, ...]:
        """The functions the snapshot's crates declare (read as `python -m build` reads them)."""
        return tuple(sorted(discover(self.app).functions))

    @cached_property
    def binaries(self) -> tuple[str, ...]:
        """Every binary `make build` compiles: the functions and the service."""
        service = discover(self.app).service
        return (*self.lambdas, *([service.name] if service else []))

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def warm(self, variant: str) -> Path:
        return self.work / "warm" / variant

    def env(self, target_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env["CARGO_TARGET_DIR"] = str(target_dir)
        env["CARGO_TERM_COLOR"] = "never"
        # cargo-lambda finds zig as `python -m ziglang` (the pinned wheel) through PATH.
        env["PATH"] = os.pathsep.join([str(self.venv_bin), env.get("PATH", "")])
        return env


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...]
    cwd: Path
    target_dir: Path


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    steps: Callable[[Context, Path], list[Step]]
    """The commands of one build into the folder ``root`` (target dirs and outputs under it)."""
    lambda_outputs: Callable[[Context, Path], dict[str, Path]]
    """What would be uploaded for each Lambda (a zip, or a bare binary for plain cargo)."""
    notes: tuple[str, ...] = field(default=())


def _bins(names: tuple[str, ...]) -> list[str]:
    return [arg for name in names for arg in ("--bin", name)]


def _make_build(ctx: Context, repo: Path, app: Path, root: Path) -> Step:
    """``python -m build all`` of ``repo`` (its own build/ package) on ``app`` into ``root``."""
    argv = (str(ctx.python), "-m", "build", "all", "--app", str(app), "--dist", str(root / "dist"))
    return Step(argv, repo, root / "target")


def _ours_steps(ctx: Context, root: Path) -> list[Step]:
    return [_make_build(ctx, ctx.repo, ctx.app, root)]


def _cargo_steps(ctx: Context, root: Path) -> list[Step]:
    argv = ("cargo", "build", "--release", "--locked", *_bins(ctx.binaries))
    return [Step(argv, ctx.app, root / "target")]


def _base_steps(ctx: Context, root: Path) -> list[Step]:
    """The base ref's own build step (its build/ package, run from its checkout) on its app/."""
    return [_make_build(ctx, ctx.base_repo, ctx.base_repo / "app", root)]


def _cargo_base_steps(ctx: Context, root: Path) -> list[Step]:
    """Plain cargo on the base ref's sources: today's floor, the issue's 1.15x reference."""
    argv = ("cargo", "build", "--release", "--locked", *_bins(ctx.binaries))
    return [Step(argv, ctx.base_repo / "app", root / "target")]


def _cargo_lambda(ctx: Context, names: tuple[str, ...]) -> tuple[str, ...]:
    return (
        str(ctx.venv_bin / "cargo-lambda"),
        "lambda",
        "build",
        "--release",
        "--locked",
        "--output-format",
        "zip",
        *_bins(names),
    )


def _cargo_lambda_steps(ctx: Context, root: Path) -> list[Step]:
    return [Step(_cargo_lambda(ctx, ctx.lambdas), ctx.app, root / "target")]


def _per_function_steps(ctx: Context, root: Path) -> list[Step]:
    return [Step(_cargo_lambda(ctx, (fn,)), ctx.app, root / fn / "target") for fn in ctx.lambdas]


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "ours",
            "(1) make build",
            _ours_steps,
            lambda ctx, root: {fn: root / "dist" / f"{fn}.zip" for fn in ctx.lambdas},
            ("compile + audit + bundle + zip + manifest, every declared binary",),
        ),
        Variant(
            "cargo",
            "(2) cargo build --release",
            _cargo_steps,
            lambda ctx, root: {fn: root / "target" / "release" / fn for fn in ctx.lambdas},
            ("compile only, the same binaries, no zip",),
        ),
        Variant(
            "base",
            "(0) make build at --base",
            _base_steps,
            lambda ctx, root: {fn: root / "dist" / f"{fn}.zip" for fn in ctx.lambdas},
            ("the base ref's build step and sources, everything else the same",),
        ),
        Variant(
            "cargo-base",
            "(2b) cargo build --release at --base",
            _cargo_base_steps,
            lambda ctx, root: {fn: root / "target" / "release" / fn for fn in ctx.lambdas},
            ("compile only, the base ref's sources",),
        ),
        Variant(
            "cargo-lambda",
            "(3) cargo lambda build",
            _cargo_lambda_steps,
            lambda ctx, root: {
                fn: root / "target" / "lambda" / fn / "bootstrap.zip" for fn in ctx.lambdas
            },
            ("the functions (no server), zips; zig linker, panic=abort, target-cpu=haswell",),
        ),
        Variant(
            "per-function",
            "(4) one build per function",
            _per_function_steps,
            lambda ctx, root: {
                fn: root / fn / "target" / "lambda" / fn / "bootstrap.zip" for fn in ctx.lambdas
            },
            ("cargo lambda build --bin <fn> per function, each its own target dir, sequential",),
        ),
    )
}


def command_lines(ctx: Context, variant: Variant) -> list[list[str]]:
    """The commands of ``variant`` as recorded in the results (with the placeholder ROOT)."""
    root = Path("$ROOT")
    return [[f"CARGO_TARGET_DIR={s.target_dir}", *s.argv] for s in variant.steps(ctx, root)]


def build_once(ctx: Context, variant: Variant, root: Path, log: Path) -> Run:
    """Run every step of ``variant`` into ``root``; one Run for all of them."""
    runs = []
    for step in variant.steps(ctx, root):
        run = timed(step.argv, cwd=step.cwd, env=ctx.env(step.target_dir), log=log)
        runs.append(run)
        if not run.ok:
            break
    return combine(runs)


def ensure_warm(ctx: Context, variant: Variant, say: Callable[[str], None]) -> Path:
    """The warm folder of ``variant``, built (untimed) first if it is missing or stale."""
    root = ctx.warm(variant.name)
    say(f"{variant.name}: bringing the warm build in {root} up to date (untimed)")
    run = build_once(ctx, variant, root, ctx.logs / f"warm-{variant.name}.log")
    if not run.ok:
        raise RuntimeError(f"the {variant.name} build failed (exit {run.exit_code}), see {run.log}")
    return root


def bare_zip(binary: Path, dest: Path) -> Path:
    """What a plain-cargo user uploads: the binary alone as ``bootstrap`` in a zip."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, binary.read_bytes())
    return dest


@dataclass(frozen=True)
class Audit:
    artifact: str
    path: str
    starts: bool
    """Would start on provided.al2023 as uploaded (``python -m build audit`` exit 0)."""
    detail: str


def audit(ctx: Context, variant: Variant, root: Path) -> list[Audit]:
    """``python -m build audit --runtime provided.al2023`` on each Lambda artifact of a build.

    Plain cargo's binaries are first zipped alone as ``bootstrap`` (what its users upload),
    so every variant is judged as a zip: nothing of this machine is visible to the check.
    """
    out = []
    for fn, path in variant.lambda_outputs(ctx, root).items():
        target = path
        if path.is_file() and not zipfile.is_zipfile(path):
            target = bare_zip(path, root / "bare-zips" / f"{fn}.zip")
        if not target.exists():
            out.append(Audit(fn, str(path), False, "missing: the build produced no artifact"))
            continue
        proc = subprocess.run(
            [str(ctx.python), "-m", "build", "audit", "--runtime", RUNTIME, str(target)],
            cwd=ctx.repo,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        problems = [ln for ln in lines if "problem:" in ln or "INCOMPATIBLE" in ln]
        detail = "; ".join(problems) if problems else (lines[0] if lines else proc.stderr.strip())
        out.append(Audit(fn, str(target), proc.returncode == 0, detail[:400]))
    return out


def file_hashes(paths: Mapping[str, Path]) -> dict[str, str]:
    """sha256 of each file, or of every file under a folder (sorted relative paths)."""
    out = {}
    for name, path in paths.items():
        digest = hashlib.sha256()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(path) if path.is_dir() else f.name).encode() + b"\0")
            digest.update(f.read_bytes())
        out[name] = digest.hexdigest()
    return out


def ours_artifacts(ctx: Context, root: Path) -> dict[str, Path]:
    dist = root / "dist"
    return {
        **{f"{fn}.zip": dist / f"{fn}.zip" for fn in ctx.lambdas},
        "server/": dist / "server",
        "manifest.json": dist / "manifest.json",
    }


def cold_run(
    ctx: Context, variant: Variant, index: int, *, keep: bool
) -> tuple[Run, int, list[Audit]]:
    """One cold build of ``variant`` in an empty folder; returns the run, how many rustc of
    others ran when it started, and the audit of its output.

    With ``keep`` the build happens in the variant's warm folder (emptied first) and stays there
    for the no-op and size benchmarks; cargo's fingerprints and build-script outputs hold
    absolute paths, so a target folder cannot be moved there afterwards without a rebuild.
    Otherwise the folder is removed afterwards.
    """
    root = ctx.warm(variant.name) if keep else ctx.work / "cold" / f"{variant.name}-{index}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    others = busy_processes()
    run = build_once(ctx, variant, root, ctx.logs / f"cold-{variant.name}-{index}.log")
    audits = audit(ctx, variant, root) if run.ok else []
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return run, others, audits
