"""Shared fixtures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference"
FIXTURES = REFERENCE / "fixtures"


def load_fixture(name: str):
    """Load a committed R-generated fixture (JSON) by file name."""
    with (FIXTURES / name).open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture
def fixture_json():
    return load_fixture
