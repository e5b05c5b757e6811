"""The tenant isolation matrix: every route, as someone who must not see it.

Every URL pattern of the project is enumerated from the resolver (a new route joins the
matrix by itself). Its parameters are filled with objects of commune A; the route is then
requested (GET and POST) as an anonymous visitor and as the admin and an agent of
commune B, by session and, for the API, by token. None of them may get anything but a
refusal (403/404/405, 401 for the API, a redirect to the login page for anonymous pages),
and nothing of commune A may change.

Public routes are listed below with the reason they are public.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from clocher.accounts.models import User
from clocher.core import services
from clocher.core.models import AuditEntry, Commune, CommuneStatus, Membership, Role
from tests.conftest import SYSTEM, _member, logged_in

# Routes anyone may reach, and why. Everything else is private.
PUBLIC = {
    "core:home": "page d'accueil publique",
    "core:healthz": "sonde de supervision, ne dit rien d'un locataire",
    "accounts:login": "page de connexion",
    "accounts:logout": "déconnexion",
    "accounts:totp": "second facteur de la connexion en cours",
    "accounts:invitation": "lien à jeton secret à usage unique",
    "onboarding:apply": "formulaire public d'adhésion",
    "onboarding:thanks": "remerciement après le formulaire public",
    "onboarding:commune_lookup": "référentiel public des communes (données ouvertes)",
    "api:schema": "schéma OpenAPI, sans donnée",
    "mail:autoconfig": "configuration automatique Thunderbird : serveurs seulement",
    "mail:autoconfig_wellknown": "configuration automatique Thunderbird : serveurs seulement",
    "mail:autodiscover": "Autodiscover Outlook : serveurs seulement",
    "mail:autodiscover_upper": "Autodiscover Outlook : serveurs seulement",
    "mail:mta_sts": "politique MTA-STS, publique par définition",
    "vault:login_v2_start": "début de connexion d'une application Nextcloud, sans donnée",
    "vault:login_v2_poll": "remise du mot de passe au seul porteur du jeton secret",
    "vault:public_share": "lien de partage : jeton secret, voulu public par la commune",
    "vault:public_download": "lien de partage : jeton secret, voulu public par la commune",
    "vault:public_preview": "lien de partage : jeton secret, voulu public par la commune",
    "vault:nc_status": "status.php des clients Nextcloud : version du serveur seulement",
    "shield:api_enroll": "enrôlement d'un boîtier : jeton secret à usage unique",
    "oidc_authentication_init": "début de connexion OpenID Connect",
    "oidc_authentication_callback": "retour OpenID Connect",
    "oidc_logout": "déconnexion OpenID Connect",
    "archive:tsa": "horodatage RFC 3161 (non qualifié) : signe une empreinte, ne lit rien",
    "archive:tsa_certificate": "certificat public de l'autorité d'horodatage",
}

# Routes whose answer depends on who asks (their account, the communes they may see):
# B reaches their own view,
# but an id belonging to A's people must still be refused.
SELF_SERVICE = {
    "accounts:account",
    "accounts:totp_setup",
    "accounts:app_passwords",
    "api:me",
    "api:communes",
}


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            ns = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else ns
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, entry


def all_routes() -> list[tuple[str, list[str]]]:
    routes = {}
    for name, pattern in _walk(get_resolver().url_patterns):
        routes[name] = sorted(pattern.pattern.regex.groupindex)
    return sorted(routes.items())


PRIVATE_ROUTES = [(name, kwargs) for name, kwargs in all_routes() if name not in PUBLIC]


@dataclass
class World:
    commune_a: Commune
    commune_b: Commune
    admin_b: User
    agent_b: User
    victim: dict[str, Any]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """Commune A with its objects, and B's people, made once for the whole matrix (it
    costs seconds: mailboxes, sealed files, archives…) inside a transaction rolled back
    at the end. Each test runs in a savepoint of it, so what a test changes is undone."""
    from tests.isolation_objects import build_victim_objects

    with django_db_blocker.unblock(), transaction.atomic():
        services.ensure_operator(
            SYSTEM,
            "Département de la Côte-d'Or",
            "communes.cotedor.fr",
            "numerique@cotedor.fr",
            "21",
        )
        commune_a = services.create_commune(SYSTEM, "21271", status=CommuneStatus.ACTIVE)
        commune_b = services.create_commune(SYSTEM, "21716", status=CommuneStatus.ACTIVE)
        admin_a = _member(commune_a, "secretaire@flavigny.test", Role.COMMUNE_ADMIN)
        agent_a = _member(commune_a, "agent@flavigny.test", Role.AGENT)
        admin_b = _member(commune_b, "secretaire@vougeot.test", Role.COMMUNE_ADMIN)
        agent_b = _member(commune_b, "agent@vougeot.test", Role.AGENT)
        victim = build_victim_objects(commune_a, admin_a, agent_a)
        yield World(commune_a, commune_b, admin_b, agent_b, victim)
        transaction.set_rollback(True)


@pytest.fixture
def victim(world: World) -> dict[str, Any]:
    """Objects of commune A, by the URL parameter names that designate them."""
    return world.victim


@pytest.fixture
def commune_a(world: World) -> Commune:
    return world.commune_a


@pytest.fixture
def admin_b(world: World) -> User:
    return world.admin_b


@pytest.fixture
def agent_b(world: World) -> User:
    return world.agent_b


def _reverse(name: str, kwarg_names: list[str], victim: dict[str, Any]) -> str:
    missing = [k for k in kwarg_names if k not in victim]
    assert not missing, (
        f"route {name}: parameter(s) {missing} unknown to the isolation matrix — "
        "add an object of commune A for them in tests/isolation_objects.py"
    )
    return reverse(name, kwargs={k: victim[k] for k in kwarg_names})


def _a_state(commune) -> tuple[int, list[tuple[int, str, bool]], str]:
    commune.refresh_from_db()
    members = sorted(
        Membership.objects.filter(commune=commune).values_list("id", "role", "is_active")
    )
    return AuditEntry.objects.filter(commune=commune).count(), members, commune.status


DENIED = {403, 404, 405}
# Routes of programs (API clients, Nextcloud clients) that ask for credentials with 401.
BASIC_AUTH_PREFIXES = ("/api/", "/ocs/", "/remote.php/")


def _assert_refused(response, who: str, url: str, method: str) -> None:
    status = response.status_code
    if who == "anonyme" and status == 302:
        location = response.headers["Location"]
        assert location.startswith(reverse("accounts:login")), (
            f"{method} {url} as {who}: redirect to {location}, not to the login page"
        )
        return
    allowed = DENIED | ({401} if url.startswith(BASIC_AUTH_PREFIXES) else set())
    assert status in allowed, f"{method} {url} as {who}: HTTP {status}, expected a refusal"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "kwarg_names"), PRIVATE_ROUTES, ids=[r[0] for r in PRIVATE_ROUTES]
)
def test_other_tenant_and_anonymous_are_refused(
    name: str, kwarg_names: list[str], victim, admin_b, agent_b, commune_a
) -> None:
    url = _reverse(name, kwarg_names, victim)
    if name in SELF_SERVICE and not kwarg_names:
        # B's own account page: reachable, but it must not show anything of A.
        response = logged_in(admin_b).get(url)
        assert response.status_code == 200
        body = response.content.decode()
        for secret in victim["_a_markers"]:
            assert secret not in body, f"{url} shows {secret!r} of commune A to B"
        requesters: list[tuple[str, Callable[[], Client]]] = [("anonyme", Client)]
    else:
        requesters = [
            ("anonyme", Client),
            ("admin de B", lambda: logged_in(admin_b)),
            ("agent de B", lambda: logged_in(agent_b)),
        ]
    before = _a_state(commune_a)
    for who, make_client in requesters:
        client = make_client()
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            _assert_refused(response, who, url, method.upper())
            if response.status_code == 200:
                continue
            body = response.content.decode(errors="replace")
            for secret in victim["_a_markers"]:
                assert secret not in body, f"{method.upper()} {url} as {who} leaks {secret!r}"
    assert _a_state(commune_a) == before, f"{url}: commune A changed by a refused request"


API_ROUTES = [r for r in PRIVATE_ROUTES if r[0].startswith("api:")]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kwarg_names"), API_ROUTES, ids=[r[0] for r in API_ROUTES])
def test_api_token_of_other_tenant_is_refused(name, kwarg_names, victim, admin_b, commune_a):
    from clocher.api.services import create_token
    from clocher.core.audit import Actor

    url = _reverse(name, kwarg_names, victim)
    _, token = create_token(Actor(label="tests"), admin_b, "matrice")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    before = _a_state(commune_a)
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(url, content_type="application/json")
        if name in SELF_SERVICE and method == "get":
            # B's own view of the API (their communes, themself): nothing of A in it.
            assert response.status_code == 200
            for secret in victim["_a_markers"]:
                assert secret not in response.content.decode(), f"{url} leaks {secret!r}"
            continue
        assert response.status_code in {403, 404, 405}, (
            f"{method.upper()} {url} with B's token: HTTP {response.status_code}"
        )
    assert _a_state(commune_a) == before
