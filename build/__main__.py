"""``python -m build``: the command line (sub-commands ``all`` and ``audit``)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from build import cargo
from build.audit import Report, audit
from build.errors import BuildError
from build.native import DEFAULT_OPENSSL
from build.pipeline import (
    Options,
    Row,
    build_all,
    is_package,
    resolve_on_host,
    resolve_packaged,
    unpacked,
)
from build.policy import ARCHITECTURES, load_policy

EXIT_INCOMPATIBLE = 1
EXIT_ERROR = 2


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m build",
        description="Build, audit and bundle the Rust binaries of app/ for AWS Lambda.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every decision")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--runtime",
            default="provided.al2023",
            help="Lambda runtime whose policy applies (default: provided.al2023)",
        )
        p.add_argument(
            "--arch",
            default="x86_64",
            help=f"Lambda architecture: {' or '.join(ARCHITECTURES)} (default: x86_64)",
        )

    everything = sub.add_parser("all", help="compile, audit, bundle, zip, write the manifest")
    common(everything)
    everything.add_argument(
        "--mode", default="host", choices=cargo.MODES, help="how to compile (default: host)"
    )
    everything.add_argument(
        "--app", type=Path, default=Path("app"), help="the Cargo workspace (default: app)"
    )
    everything.add_argument(
        "--dist", type=Path, default=Path("dist"), help="output folder (default: dist)"
    )
    everything.add_argument(
        "--openssl",
        default=DEFAULT_OPENSSL,
        help="static: link libssl.a/libcrypto.a into each binary (default); shared: bundle "
        "libssl.so.3/libcrypto.so.3 in lib/",
    )
    everything.add_argument(
        "--no-cache",
        action="store_true",
        help="audit and bundle every artifact again, even when the previous one could be reused",
    )

    check = sub.add_parser("audit", help="audit ELF files, Lambda zips or bundled folders")
    common(check)
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return parser


TOOLCHAIN_FAMILIES = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")


def _print_report(report: Report, shown: Path, *, verbose: bool = False) -> None:
    print(
        f"{shown}: {report.machine}, runtime {report.runtime}/{report.architecture}: "
        f"{'compatible' if report.ok else 'INCOMPATIBLE'}"
    )
    families = sorted(report.highest) if verbose else TOOLCHAIN_FAMILIES
    for family in (f for f in families if f in report.highest):
        need = report.highest[family]
        print(f"  highest {family}: {need.version_name}: {need.describe()}")
    for name in report.provided:
        print(f"  provided: {name}")
    for lib in report.bundle:
        print(f"  bundled:  {lib.name} => {lib.path}")
    for problem in report.problems:
        print(f"  problem:  {problem}")


def _audit(args: argparse.Namespace) -> int:
    policy = load_policy(args.runtime)
    arch = policy.arch(args.arch)
    status = 0
    for path in args.files:
        try:
            with unpacked(path) as binary:
                packaged = is_package(path)
                tree = (
                    resolve_packaged(binary, policy)
                    if packaged
                    else resolve_on_host(binary, policy, arch)
                )
                report = audit(policy, arch, tree)
                _print_report(report, path, verbose=args.verbose)
        except BuildError as exc:  # unresolvable, not ELF, wrong machine: reported per file
            print(f"{path}: INCOMPATIBLE: {exc}")
            status = EXIT_INCOMPATIBLE
            continue
        if not report.ok:
            status = EXIT_INCOMPATIBLE
    return status


def _table(rows: list[Row]) -> str:
    header = ("artifact", "size", "unzipped", "glibc", "bundled libs", "this build")
    lines = [
        (
            r.artifact,
            f"{r.size / 1e6:.2f} MB",
            f"{r.unzipped / 1e6:.2f} MB",
            r.glibc or "-",
            str(r.bundled),
            "reused" if r.reused else "built",
        )
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in [header, *lines]
    )


def _all(args: argparse.Namespace) -> int:
    policy = load_policy(args.runtime)
    arch = policy.arch(args.arch)
    start = time.monotonic()
    options = Options(
        app=args.app,
        dist=args.dist,
        policy=policy,
        arch=arch,
        mode=args.mode,
        cache=not args.no_cache,
        openssl=args.openssl,
    )
    _, rows = build_all(options, _progress)
    _progress(f"wrote {args.dist / 'manifest.json'} ({time.monotonic() - start:.1f}s in all)")
    print(_table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _audit(args) if args.command == "audit" else _all(args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
