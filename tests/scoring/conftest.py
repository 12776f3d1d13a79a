"""The scoring library is pure numpy/scipy: its tests need no app and no database."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_db():
    """Override the suite-wide database fixture: nothing to isolate here."""
    yield
