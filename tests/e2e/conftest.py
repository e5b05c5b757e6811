"""The browser every end-to-end page test drives."""

from __future__ import annotations

import pytest

from tests.e2e.browser import chromium


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver
