from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from build.errors import ConfigError, PolicyError
from build.policy import POLICY_DIR, load_policy


@pytest.mark.parametrize(
    ("runtime", "glibc"), [("provided.al2023", "2.34"), ("provided.al2", "2.26")]
)
def test_shipped_policies_load(runtime, glibc):
    policy = load_policy(runtime)
    assert policy.glibc_str == glibc
    assert "libc.so.6" in policy.provided
    assert "libgcc_s.so.1" in policy.provided
    assert "libpq.so.5" not in policy.provided
    assert "libstdc++.so.6" not in policy.provided
    assert policy.ld_library_path[:2] == ("/lib64", "/usr/lib64")
    assert policy.arch("x86_64").loader == "/lib64/ld-linux-x86-64.so.2"
    assert policy.arch("arm64").loader == "/lib/ld-linux-aarch64.so.1"
    assert policy.sources


def test_unknown_runtime():
    with pytest.raises(
        ConfigError,
        match=r"runtime 'provided' is unknown: .* provided.al2, provided.al2023; pass one",
    ):
        load_policy("provided")


def test_unknown_architecture():
    with pytest.raises(ConfigError, match=r"architecture 'x86' is unknown .*x86_64"):
        load_policy("provided.al2023").arch("x86")


def _copy(tmp_path: Path) -> Path:
    shutil.copy(POLICY_DIR / "provided.al2023.json", tmp_path)
    return tmp_path / "provided.al2023.json"


def test_corrupt_policy_file(tmp_path: Path):
    path = _copy(tmp_path)
    path.write_text(path.read_text()[:-20])
    with pytest.raises(
        PolicyError, match=r"provided.al2023.json is corrupt: it must be valid JSON"
    ):
        load_policy("provided.al2023", tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 2}, "schema_version must be 1, got 2"),
        ({"runtime": "provided.al2"}, "runtime must match the file name"),
        ({"glibc": "two"}, "glibc must be a version string"),
        ({"symbol_versions": {"GLIBC": "2.35"}}, "symbol_versions.GLIBC must equal glibc"),
        ({"provided": ["libm.so.6"]}, "provided must include libc.so.6"),
        ({"provided": ["libc"]}, "provided must list SONAMEs"),
        ({"ld_library_path": []}, "ld_library_path must be a non-empty list"),
        ({"architectures": {"riscv": {}}}, "architectures keys must be among"),
        (
            {"architectures": {"arm64": {"elf_machine": "EM_AARCH64"}}},
            "architectures.arm64.rust_target must be a string",
        ),
    ],
)
def test_invalid_policy_fields(tmp_path: Path, change, message):
    path = _copy(tmp_path)
    data = json.loads(path.read_text())
    data.update(change)
    path.write_text(json.dumps(data))
    with pytest.raises(PolicyError, match=rf"policy file .* is invalid: {message}.*fix the file"):
        load_policy("provided.al2023", tmp_path)
