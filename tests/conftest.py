"""Shared test fixtures: the project root and the fixture artifact manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def fixture_manifest() -> Path:
    """tests/fixtures/manifest.json: tiny zips in the contract's shape (no `make build`)."""
    return FIXTURES / "manifest.json"
