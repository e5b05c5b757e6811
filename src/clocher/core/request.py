"""Turn an HTTP request into the Actor the services record in the journal."""

from __future__ import annotations

from django.http import HttpRequest

from clocher.core.audit import Actor


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def actor_of(request: HttpRequest) -> Actor:
    user = request.user if request.user.is_authenticated else None
    return Actor(user=user, ip=client_ip(request))
