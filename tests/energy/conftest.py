"""Fixtures of the energy app's tests: a commune with the demo's buildings and data."""

from __future__ import annotations

import pytest

from clocher.core.audit import Actor
from clocher.energy.demo import seed_demo_energy

ACTOR = Actor(label="tests énergie")


@pytest.fixture
def demo_a(commune_a, admin_a):
    """Commune A with the demo's three buildings, two years of data, models and drifts."""
    seed_demo_energy(ACTOR, commune_a)
    return commune_a
