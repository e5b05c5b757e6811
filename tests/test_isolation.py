"""The tenant isolation matrix: every route, as someone who must not see it.

Every URL pattern of the project is enumerated from the resolver (a new route joins the
matrix by itself). Its parameters are filled with objects of commune A; the route is then
requested (GET and POST) by session and, for the API, by token, as:
- an anonymous visitor, the admin and an agent of commune B, and a member of B and of a
  third commune C (never of A);
- a member of A whose membership was deactivated (still active in B), and one whose
  membership was removed (still active in C): their account and session stay valid;
- A's own admin and agent once commune A is suspended.
None of them may get anything but a refusal (403/404/405, 401 for the API, a redirect to
the login page for anonymous pages), and nothing of commune A may change.

Public routes are listed below with the reason they are public.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
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
    "groupware:well_known_caldav": "redirection de découverte CalDAV, sans donnée",
    "groupware:well_known_carddav": "redirection de découverte CardDAV, sans donnée",
    "groupware:webmail_authorize": "connexion du webmail : code pour les seules boîtes de la "
    "personne connectée (anonyme : page de connexion)",
    "groupware:webmail_token": "jeton OAuth du webmail : secret du client Roundcube exigé",
    "groupware:webmail_userinfo": "identité OIDC du webmail : jeton d'accès exigé",
    "groupware:webmail_contacts": "carnets du webmail : jeton d'accès exigé, commune de sa "
    "boîte seulement (matrice des jetons du webmail, plus bas)",
    "groupware:webmail_introspection": "introspection des jetons pour Dovecot : secret exigé",
    "shield:api_enroll": "enrôlement d'un boîtier : jeton secret à usage unique",
    "oidc_authentication_init": "début de connexion OpenID Connect",
    "oidc_authentication_callback": "retour OpenID Connect",
    "oidc_logout": "déconnexion OpenID Connect",
    "archive:tsa": "horodatage RFC 3161 (non qualifié) : signe une empreinte, ne lit rien",
    "archive:tsa_certificate": "certificat public de l'autorité d'horodatage",
    "awareness:landing": "exercice d'hameçonnage : jeton secret d'un seul message, rien d'autre",
    "awareness:open": "image de suivi d'un exercice : jeton secret d'un seul message",
    "awareness:click": "clic d'un exercice, signalé par sa page : jeton secret d'un seul message",
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
    "api:app_passwords",
    "governance:my_data",
}

# Routes on an object of A's agent's own account rather than of the commune: its owner
# keeps them whatever becomes of A, so as to be able to withdraw their own access.
OWN_ACCOUNT_ROUTES = {
    "accounts:app_password_revoke": "révoquer son propre mot de passe d'application",
    "api:app_password_revoke": "révoquer son propre mot de passe d'application (API)",
}
OWNER = "agent de A"  # who owns A's account objects (app password, mailbox, transfer…)


def _walk(
    patterns: list[Any], keys: frozenset[str] = frozenset(), namespace: str = ""
) -> Iterator[tuple[str, list[str]]]:
    """Every named route with its URL arguments, those of its `include()` prefixes too."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            ns = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else ns
            yield from _walk(entry.url_patterns, keys | set(entry.pattern.regex.groupindex), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, sorted(keys | set(entry.pattern.regex.groupindex))


def all_routes() -> list[tuple[str, list[str]]]:
    return sorted(dict(_walk(get_resolver().url_patterns)).items())


PRIVATE_ROUTES = [(name, kwargs) for name, kwargs in all_routes() if name not in PUBLIC]


@dataclass
class World:
    commune_a: Commune
    victim: dict[str, Any]
    # Who must be refused on A, by case, then by the name failures give them.
    cases: dict[str, dict[str, User]]


# The cases of the matrix; "A suspendue" suspends A (in the test's savepoint) first.
OTHER_TENANT = "autre-commune"
FORMER_MEMBERS = "anciens-membres-de-A"
SUSPENDED = "A-suspendue"
CASES = (OTHER_TENANT, FORMER_MEMBERS, SUSPENDED)


def _former_member(commune_a: Commune, email: str, still_in: Commune, *, remove: bool) -> User:
    """An admin of A who left it (deactivated or removed) but is still an active agent
    of another commune: their account, session and token stay valid."""
    user = _member(commune_a, email, Role.COMMUNE_ADMIN)
    services.add_member(SYSTEM, still_in, email, Role.AGENT, invite=False)
    membership = Membership.objects.get(user=user, commune=commune_a)
    if remove:
        services.remove_member(SYSTEM, membership)
    else:
        services.deactivate_member(SYSTEM, membership)
    return user


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
        commune_c = services.create_commune(SYSTEM, "21231", status=CommuneStatus.ACTIVE)
        admin_a = _member(commune_a, "secretaire@flavigny.test", Role.COMMUNE_ADMIN)
        agent_a = _member(commune_a, "agent@flavigny.test", Role.AGENT)
        admin_b = _member(commune_b, "secretaire@vougeot.test", Role.COMMUNE_ADMIN)
        agent_b = _member(commune_b, "agent@vougeot.test", Role.AGENT)
        both = _member(commune_b, "secretaire@vougeot-et-dijon.test", Role.COMMUNE_ADMIN)
        services.add_member(SYSTEM, commune_c, both.email, Role.COMMUNE_ADMIN, invite=False)
        cases = {
            OTHER_TENANT: {
                "admin de B": admin_b,
                "agent de B": agent_b,
                "membre de B et de C": both,
            },
            FORMER_MEMBERS: {
                "membre désactivé de A": _former_member(
                    commune_a, "desactivee@flavigny.test", commune_b, remove=False
                ),
                "membre retiré de A": _former_member(
                    commune_a, "retiree@flavigny.test", commune_c, remove=True
                ),
            },
            SUSPENDED: {"admin de A": admin_a, OWNER: agent_a},
        }
        victim = build_victim_objects(commune_a, admin_a, agent_a)
        yield World(commune_a, victim, cases)
        transaction.set_rollback(True)


def _reverse(name: str, kwarg_names: list[str], victim: dict[str, Any]) -> str:
    missing = [k for k in kwarg_names if k not in victim]
    assert not missing, (
        f"route {name}: parameter(s) {missing} unknown to the isolation matrix — "
        "add an object of commune A for them in tests/isolation_objects.py"
    )
    return reverse(name, kwargs={k: victim[k] for k in kwarg_names})


def _a_state(commune) -> tuple[int, list[tuple[int, str, bool]], str]:
    commune = Commune.objects.get(pk=commune.pk)  # the world's instance stays as built
    members = sorted(
        Membership.objects.filter(commune=commune).values_list("id", "role", "is_active")
    )
    return AuditEntry.objects.filter(commune=commune).count(), members, commune.status


def _people_of(world: World, case: str) -> dict[str, User]:
    """The people of `case`, once its condition holds: for SUSPENDED, A is suspended in
    the test's savepoint (on a fresh instance, so the world's keeps its status)."""
    if case == SUSPENDED:
        commune = Commune.objects.get(pk=world.commune_a.pk)
        services.set_commune_status(SYSTEM, commune, CommuneStatus.SUSPENDED, "matrice")
    return world.cases[case]


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


def _assert_nothing_of_a(response, who: str, url: str, victim: dict, user: User | None) -> None:
    """No secret of A in the answer; the requester's own address is theirs to see."""
    body = response.content.decode(errors="replace")
    for secret in victim["_a_markers"]:
        if user is None or secret != user.email:
            assert secret not in body, f"{url} shows {secret!r} of commune A to {who}"


def _own_view(name: str, kwarg_names: list[str]) -> bool:
    """The requester's own page (their account, their communes): not a route of A."""
    return name in SELF_SERVICE and not kwarg_names


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("name", "kwarg_names"), PRIVATE_ROUTES, ids=[r[0] for r in PRIVATE_ROUTES]
)
def test_private_route_refuses_who_may_not_see_a(
    name: str, kwarg_names: list[str], case: str, world: World
) -> None:
    victim = world.victim
    url = _reverse(name, kwarg_names, victim)
    people = _people_of(world, case)
    requesters: dict[str, Callable[[], Client]] = {
        who: partial(logged_in, user) for who, user in people.items()
    }
    if case == OTHER_TENANT:
        requesters = {"anonyme": Client, **requesters}
    before = _a_state(world.commune_a)
    for who, make_client in requesters.items():
        if case == SUSPENDED and who == OWNER and name in OWN_ACCOUNT_ROUTES:
            continue
        client = make_client()
        if _own_view(name, kwarg_names) and who in people:
            response = client.get(url)
            assert response.status_code == 200, f"GET {url} as {who}: {response.status_code}"
            _assert_nothing_of_a(response, who, url, victim, people[who])
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            _assert_refused(response, who, url, method.upper())
            _assert_nothing_of_a(response, f"{who} ({method.upper()})", url, victim, None)
    assert _a_state(world.commune_a) == before, f"{url}: commune A changed by a refused request"


API_ROUTES = [r for r in PRIVATE_ROUTES if r[0].startswith("api:")]


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("name", "kwarg_names"), API_ROUTES, ids=[r[0] for r in API_ROUTES])
def test_api_token_refuses_who_may_not_see_a(
    name: str, kwarg_names: list[str], case: str, world: World
) -> None:
    from clocher.api.services import create_token
    from clocher.core.audit import Actor

    victim = world.victim
    url = _reverse(name, kwarg_names, victim)
    people = _people_of(world, case)
    # Someone whose every commune is suspended may have no valid token at all (401); the
    # others are active somewhere, so their token must authenticate and A refuse them.
    refused = DENIED | ({401} if case == SUSPENDED else set())
    before = _a_state(world.commune_a)
    for who, user in people.items():
        _, token = create_token(Actor(label="tests"), user, "matrice")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        for method in ("get", "post", "patch", "delete"):
            response = getattr(client, method)(url, content_type="application/json")
            status = response.status_code
            if _own_view(name, kwarg_names):
                # Their own view of the API (their communes, themself): nothing of A; a
                # write there without its payload may be refused as malformed (400).
                mine = {200} if method == "get" else {400}
                assert status in mine | refused, f"{method.upper()} {url} as {who}: {status}"
                _assert_nothing_of_a(response, who, url, victim, user)
                continue
            assert status in refused, f"{method.upper()} {url} with the token of {who}: {status}"
            _assert_nothing_of_a(response, who, url, victim, None)
    assert _a_state(world.commune_a) == before


# Routes that a webmail access token opens (Roundcube's identity and address books): no
# session, no URL argument, the token decides. Each person of each case presents a token
# for their own mailbox: B's people one in their commune (answered, nothing of A in it),
# A's former members and A's own people once A is suspended one given for their mailbox
# in A before they lost it (refused).
WEBMAIL_TOKEN_ROUTES = ["groupware:webmail_userinfo", "groupware:webmail_contacts"]


def _webmail_token(user: User, commune: Commune) -> str:
    """A token for a mailbox of `user` in `commune`, as the code exchange gives it (made
    directly: a former member could not obtain one any more)."""
    from django.utils import timezone

    from clocher.groupware.models import WebmailGrant
    from clocher.groupware.webmail import sso
    from clocher.mail.models import Mailbox, MailDomain

    domain = MailDomain.objects.get(name="communes.cotedor.fr")
    local = f"jeton-{user.pk}-{commune.insee}"
    mailbox, _ = Mailbox.objects.get_or_create(
        commune=commune,
        domain=domain,
        local_part=local,
        defaults={"address": f"{local}@{domain.name}", "user": user},
    )
    grant = WebmailGrant.objects.create(
        commune=commune,
        user=user,
        mailbox=mailbox,
        redirect_uri="http://testserver/webmail/index.php/login/oauth",
        code_hash=f"matrice-{user.pk}-{commune.pk}",
        code_expires_at=timezone.now(),
    )
    return sso._tokens(grant, "http://testserver")["access_token"]


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", WEBMAIL_TOKEN_ROUTES)
def test_webmail_token_shows_nothing_of_a(name: str, case: str, world: World, settings, tmp_path):
    from clocher.groupware import dav

    settings.GROUPWARE_DIR = tmp_path / "groupware"  # the CardDAV store the books read
    dav.reset()
    url = reverse(name)
    people = _people_of(world, case)
    before = _a_state(world.commune_a)
    for who, user in people.items():
        if case == OTHER_TENANT:
            commune = Membership.objects.filter(user=user, is_active=True)[0].commune
        else:
            commune = world.commune_a
        response = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {_webmail_token(user, commune)}")
        expected = 200 if case == OTHER_TENANT else 401
        assert response.status_code == expected, f"{url} as {who}: {response.status_code}"
        _assert_nothing_of_a(response, who, url, world.victim, user)
    assert _a_state(world.commune_a) == before
    dav.reset()
