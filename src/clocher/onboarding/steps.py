"""Provisioning steps: each service registers the step it needs when a commune joins.

A step is a function `(run, actor) -> detail` that must be idempotent (a retry runs it
again after a failure). Steps tied to a service run only when the commune asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clocher.core.audit import Actor
from clocher.onboarding.models import ProvisioningRun

StepFunction = Callable[[ProvisioningRun, Actor], str]


@dataclass(frozen=True)
class StepSpec:
    name: str
    label: str
    position: int
    function: StepFunction
    service: str | None = None


_registry: dict[str, StepSpec] = {}


def register_step(
    name: str, label: str, position: int, service: str | None = None
) -> Callable[[StepFunction], StepFunction]:
    def decorator(function: StepFunction) -> StepFunction:
        _registry[name] = StepSpec(name, label, position, function, service)
        return function

    return decorator


def unregister_step(name: str) -> None:
    _registry.pop(name, None)


def get_step(name: str) -> StepSpec | None:
    return _registry.get(name)


def steps_for(services: list[str]) -> list[StepSpec]:
    return sorted(
        (s for s in _registry.values() if s.service is None or s.service in services),
        key=lambda s: s.position,
    )
