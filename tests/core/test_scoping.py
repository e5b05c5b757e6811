"""The scoping rules every view asks: who administers a commune, which operator row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clocher.core import scoping, services
from clocher.core.models import CommuneStatus, Membership, Operator, Role
from tests.conftest import SYSTEM, _member, logged_in


@pytest.fixture
def operator_support(operator):
    return services.add_operator_member(SYSTEM, "support@cotedor.fr", Role.OPERATOR_SUPPORT).user


def test_is_commune_admin_answers(
    commune_a, commune_b, admin_a, agent_a, operator_admin, operator_support
):
    elected = _member(commune_a, "maire@flavigny.test", Role.ELECTED)
    assert scoping.is_commune_admin(admin_a, commune_a)
    assert not scoping.is_commune_admin(agent_a, commune_a)
    assert not scoping.is_commune_admin(elected, commune_a)
    assert not scoping.is_commune_admin(admin_a, commune_b)  # another commune
    assert scoping.is_commune_admin(operator_admin, commune_a)
    assert scoping.is_commune_admin(operator_support, commune_b)


def test_deactivated_or_suspended_admin_is_not_admin(commune_a, admin_a):
    second = _member(commune_a, "adjoint@flavigny.test", Role.COMMUNE_ADMIN)
    services.deactivate_member(SYSTEM, Membership.objects.get(user=admin_a, commune=commune_a))
    assert not scoping.is_commune_admin(admin_a, commune_a)
    assert scoping.is_commune_admin(second, commune_a)
    services.set_commune_status(SYSTEM, commune_a, CommuneStatus.SUSPENDED, "impayé")
    commune_a.refresh_from_db()
    assert not scoping.is_commune_admin(second, commune_a)


@pytest.mark.parametrize("url_name", ["core:commune_console", "vault:home", "archive:list"])
def test_pages_agree_on_who_is_admin(url_name, commune_a, admin_a, agent_a, operator_support):
    """Before, the console said yes to the operator and the vault and archive said no."""
    url = reverse(url_name, kwargs={"insee": commune_a.insee})
    answers = {}
    for user in (admin_a, agent_a, operator_support):
        response = logged_in(user).get(url)
        assert response.status_code == 200, (user, response.status_code)
        answers[user.email] = response.context["is_admin"]
    assert answers == {admin_a.email: True, agent_a.email: False, operator_support.email: True}


def test_get_operator_is_the_first_row(db):
    assert scoping.get_operator() is None
    first = services.ensure_operator(SYSTEM, "Département de la Côte-d'Or", "communes.cotedor.fr")
    assert scoping.get_operator() == first
    assert Operator.objects.count() == 1
