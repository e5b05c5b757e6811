"""App passwords and API tokens follow the console over real HTTP (WebDAV, Nextcloud's
endpoints and login flow, the API): refused the moment a member is deactivated or removed
or their commune suspended or gone, open again with the same secret when the console
restores them (issue 12, defect 2). IMAP and submission: tests/mail/test_access_revocation.py.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from clocher.accounts.models import AppPassword
from clocher.accounts.services import create_app_password
from clocher.api.services import create_token
from clocher.core.models import Membership, Role
from clocher.core.scoping import may_use_protocols
from clocher.vault import services as vault
from clocher.vault.dav.app import DAV_PREFIX
from tests.access_cuts import ACTOR, cut_in, cuts, restore_in
from tests.conftest import logged_in
from tests.vault.conftest import dav_server, vault_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def dav_status(base: str, user, password: str, path: str = "") -> requests.Response:
    return requests.request(
        "PROPFIND",
        f"{base}{DAV_PREFIX}/{user.email}/{path}",
        auth=(user.email, password),
        headers={"Depth": "1"},
        timeout=10,
    )


def ocs_user_status(base: str, user, password: str) -> int:
    url = f"{base}/ocs/v2.php/cloud/user?format=json"
    return requests.get(url, auth=(user.email, password), timeout=10).status_code


def api_get(base: str, token: str, path: str = "communes/") -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{base}/api/v1/{path}", headers=headers, timeout=10)


def member_of_both(user, commune_b) -> None:
    Membership.objects.create(user=user, commune=commune_b, role=Role.AGENT)


@cuts
def test_dav_and_nextcloud_follow_the_console(dav_server, agent_a, commune_a, cut, restore):  # noqa: F811
    vault.ensure_commune_space(ACTOR, commune_a)
    password = create_app_password(ACTOR, agent_a, "tests").clear
    # The first answer also puts the verified password in the DAV login cache: the cut
    # must bite through it.
    listing = dav_status(dav_server, agent_a, password)
    assert listing.status_code == 207 and commune_a.name in listing.text
    assert ocs_user_status(dav_server, agent_a, password) == 200
    cut(agent_a, commune_a)
    assert dav_status(dav_server, agent_a, password).status_code == 401
    assert ocs_user_status(dav_server, agent_a, password) == 401
    if restore is not None:
        restore(agent_a, commune_a)
        listing = dav_status(dav_server, agent_a, password)
        assert listing.status_code == 207 and commune_a.name in listing.text
        assert ocs_user_status(dav_server, agent_a, password) == 200


def test_dav_member_of_two_communes_deactivated_in_one_keeps_the_other(
    dav_server,  # noqa: F811
    agent_a,
    commune_a,
    commune_b,
):
    member_of_both(agent_a, commune_b)
    for commune in (commune_a, commune_b):
        vault.ensure_commune_space(ACTOR, commune)
    password = create_app_password(ACTOR, agent_a, "tests").clear
    assert commune_a.name in dav_status(dav_server, agent_a, password).text
    cut_in(agent_a, commune_a)
    listing = dav_status(dav_server, agent_a, password)
    assert listing.status_code == 207
    assert commune_b.name in listing.text and commune_a.name not in listing.text
    assert dav_status(dav_server, agent_a, password, quote(commune_a.name)).status_code == 404
    restore_in(agent_a, commune_a)
    assert commune_a.name in dav_status(dav_server, agent_a, password).text


def _start_flow(base: str) -> tuple[str, str]:
    started = requests.post(f"{base}/index.php/login/v2", timeout=10).json()
    return started["login"].removeprefix(base), started["poll"]["token"]


def _poll(base: str, token: str) -> requests.Response:
    return requests.post(f"{base}/index.php/login/v2/poll", data={"token": token}, timeout=10)


@cuts
def test_login_flow_hands_no_password_without_active_membership(
    dav_server,  # noqa: F811
    agent_a,
    commune_a,
    cut,
    restore,
):
    login_path, poll_token = _start_flow(dav_server)
    browser = logged_in(agent_a)
    cut(agent_a, commune_a)
    page = browser.get(login_path)
    assert page.status_code == 403 and "membre désactivé ou retiré" in page.content.decode()
    assert browser.post(login_path).status_code == 403
    assert _poll(dav_server, poll_token).status_code == 404
    assert not AppPassword.objects.filter(user=agent_a).exists()
    if restore is not None:
        restore(agent_a, commune_a)
        assert browser.post(login_path).status_code == 200
        assert _poll(dav_server, poll_token).json()["loginName"] == agent_a.email


def test_login_flow_granted_then_deactivated_is_not_handed_over(
    dav_server,  # noqa: F811
    agent_a,
    commune_a,
):
    login_path, poll_token = _start_flow(dav_server)
    assert logged_in(agent_a).post(login_path).status_code == 200
    cut_in(agent_a, commune_a)
    assert _poll(dav_server, poll_token).status_code == 404
    restore_in(agent_a, commune_a)
    assert _poll(dav_server, poll_token).status_code == 200


@cuts
def test_api_token_follows_the_console(dav_server, agent_a, commune_a, cut, restore):  # noqa: F811
    _, token = create_token(ACTOR, agent_a, "tests")
    assert [c["insee"] for c in api_get(dav_server, token).json()["results"]] == [commune_a.insee]
    cut(agent_a, commune_a)
    refused = api_get(dav_server, token)
    assert refused.status_code == 401 and "plus d'accès actif" in refused.json()["detail"]
    if restore is not None:
        restore(agent_a, commune_a)
        assert api_get(dav_server, token).status_code == 200


def test_api_token_member_of_two_communes_deactivated_in_one_sees_the_other(
    dav_server,  # noqa: F811
    agent_a,
    commune_a,
    commune_b,
):
    member_of_both(agent_a, commune_b)
    _, token = create_token(ACTOR, agent_a, "tests")
    cut_in(agent_a, commune_a)
    assert [c["insee"] for c in api_get(dav_server, token).json()["results"]] == [commune_b.insee]
    assert api_get(dav_server, token, f"communes/{commune_a.insee}/").status_code == 404


def test_operators_keep_their_access_without_a_commune(operator_admin, commune_a):
    assert may_use_protocols(operator_admin)
    membership = Membership.objects.get(user=operator_admin)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    assert not may_use_protocols(operator_admin)
