"""NUL characters in query and form text (`core.middleware.RefuseNulMiddleware`)."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_a_nul_character_is_refused_before_any_view(client_operator, client_admin_a, commune_a):
    """PostgreSQL refuses NUL in text: views reading `request.POST` themselves answered 500
    there (tests/test_hostile_input.py found five on PostgreSQL), and SQLite kept the character."""
    from django.urls import reverse

    from clocher.shield.models import AllowEntry

    url = reverse("shield:allow_add")
    answer = client_operator.post(url, {"prefix": "192.0.2.0/24\x00", "reason": "essai"})
    assert answer.status_code == 400 and "caractère nul" in answer.content.decode()
    assert not AllowEntry.objects.exists()
    search = client_admin_a.get(reverse("vault:home", kwargs={"insee": commune_a.insee}) + "?q=%00")
    assert search.status_code == 400
    # Without it, the same requests are ordinary.
    assert client_operator.post(url, {"prefix": "192.0.2.0/24", "reason": "essai"}).status_code in (
        200,
        302,
    )
    assert AllowEntry.objects.filter(prefix="192.0.2.0/24").exists()
