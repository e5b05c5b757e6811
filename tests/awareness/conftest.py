"""Agents of commune A with their Clocher mailbox, taking part in the programme."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clocher.awareness import services
from clocher.awareness.models import Enrolment
from clocher.core.audit import Actor
from tests.mail.conftest import Box, make_box  # noqa: F401 - fixture re-exported

ACTOR = Actor(label="tests")


@pytest.fixture
def enrolled(make_box, commune_a) -> Callable[..., list[Box]]:  # noqa: F811
    """`n` agents of `commune` (A by default) in a programme by default, notice seen."""

    def make(n: int, commune=None, prefix: str = "agent") -> list[Box]:
        commune = commune or commune_a
        services.set_programme(
            ACTOR,
            commune,
            enabled=True,
            enrolment=Enrolment.DEFAULT_IN,
            notice=services.DEFAULT_NOTICE,
        )
        boxes = [make_box(f"{prefix}{i}.{commune.insee}", commune=commune) for i in range(n)]
        for box in boxes:
            services.see_notice(commune, box.user)
        return boxes

    return make
