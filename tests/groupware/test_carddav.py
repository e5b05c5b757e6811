"""CardDAV over real HTTP: personal and commune address books, the generated directory,
and tenancy (the `caldav` client speaks CalDAV only: plain requests here)."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
import requests

from clocher.core.models import Membership
from clocher.groupware import dav, services
from clocher.mail.models import Mailbox, MailboxKind, MailDomain
from tests.groupware.conftest import Account, report

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
</C:addressbook-query>"""


def vcard(uid: str, name: str, email: str) -> str:
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
        f"EMAIL;TYPE=WORK:{email}\r\nEND:VCARD\r\n"
    )


def cards(who: Account, book: str) -> str:
    answer = report(who, f"{who.addressbooks}{book}/", QUERY)
    assert answer.status_code == 207, answer.text
    return answer.text


def books(who: Account) -> set[str]:
    answer = requests.request(
        "PROPFIND", who.addressbooks, auth=who.auth, headers={"Depth": "1"}, timeout=30
    )
    assert answer.status_code == 207, answer.text
    # Parsed by namespace: the prefix Radicale writes depends on what the process registered
    # with ElementTree (vault/dav/nextcloud.py registers "d" for DAV: at its first answer).
    hrefs = [h.text or "" for h in ElementTree.fromstring(answer.content).iter("{DAV:}href")]
    prefix = dav.CARDDAV_PREFIX + "/"
    return {h.rstrip("/").rsplit("/", 1)[-1] for h in hrefs if h.startswith(prefix)} - {
        who.user.email.replace("@", "%40")
    }


def put(who: Account, url: str, body: str, **headers: str) -> requests.Response:
    return requests.put(
        url,
        data=body.encode(),
        auth=who.auth,
        headers={"Content-Type": "text/vcard; charset=utf-8", **headers},
        timeout=30,
    )


def test_contacts_are_created_listed_updated_and_deleted(admin):
    assert "contacts" in books(admin)
    url = f"{admin.addressbooks}contacts/plombier.vcf"
    assert (
        put(admin, url, vcard("plombier", "Plomberie Martin", "contact@martin.test")).status_code
        == 201
    )
    assert "Plomberie Martin" in cards(admin, "contacts")
    etag = requests.get(url, auth=admin.auth, timeout=30).headers["ETag"]
    updated = put(
        admin,
        url,
        vcard("plombier", "Plomberie Martin & fils", "a@martin.test"),
        **{"If-Match": etag},
    )
    assert updated.status_code in (201, 204)
    assert "Martin &amp; fils" in cards(admin, "contacts") or "Martin & fils" in cards(
        admin, "contacts"
    )
    assert requests.delete(url, auth=admin.auth, timeout=30).status_code in (200, 204)
    assert "Plomberie" not in cards(admin, "contacts")


def test_commune_address_book_is_shared_by_role(admin, agent, elected, other, commune_a):
    book = f"commune-{commune_a.insee}"
    assert {book, f"annuaire-{commune_a.insee}", "contacts"} <= books(agent)
    created = put(
        agent,
        f"{agent.addressbooks}{book}/ecole.vcf",
        vcard("ecole", "École primaire", "ecole@x.test"),
    )
    assert created.status_code == 201
    assert "École primaire" in cards(admin, book)
    assert "École primaire" in cards(elected, book)
    refused = put(
        elected, f"{elected.addressbooks}{book}/elu.vcf", vcard("elu", "Pas permis", "p@x.test")
    )
    assert refused.status_code == 403
    # Another commune's member: nothing, by any path.
    assert not any(b.startswith(("commune-21271", "annuaire-21271")) for b in books(other))
    for url in (
        f"{admin.addressbooks}{book}/",
        f"{admin.addressbooks}{book}/ecole.vcf",
        f"{other.addressbooks}{book}/",
        f"{other.base}{dav.CARDDAV_PREFIX}/_communes/{commune_a.insee}/contacts/",
    ):
        answer = requests.request(
            "PROPFIND", url, auth=other.auth, headers={"Depth": "1"}, timeout=30
        )
        assert answer.status_code in (403, 404), (url, answer.status_code)
        assert requests.get(url, auth=other.auth, timeout=30).status_code in (403, 404)


def test_directory_lists_members_titles_and_function_mailboxes(
    admin, agent, elected, commune_a, operator
):
    domain = MailDomain.objects.create(name="annuaire.test", commune=commune_a)
    Mailbox.objects.create(
        commune=commune_a,
        domain=domain,
        local_part="mairie.test-annuaire",
        address=f"mairie.test-annuaire@{domain.name}",
        kind=MailboxKind.FUNCTION,
    )
    Membership.objects.filter(user=agent.user).update(title="Secrétaire de mairie")
    directory = cards(agent, f"annuaire-{commune_a.insee}")
    assert "Élise Maire" in directory and "TITLE:Maire" in directory
    assert "TITLE:Secrétaire de mairie" in directory
    assert admin.user.email in directory
    assert f"mairie.test-annuaire@{domain.name}" in directory
    # Read-only: the console is the source.
    refused = put(
        agent, f"{agent.addressbooks}annuaire-{commune_a.insee}/x.vcf", vcard("x", "X", "x@x.test")
    )
    assert refused.status_code == 403
    # A member who leaves is gone at the next regeneration; the others' cards stay.
    Membership.objects.filter(user=elected.user).update(is_active=False)
    app = dav.application().apps[dav.CARDDAV_PREFIX]
    assert services.sync_directory(app, commune_a) == 1
    directory = cards(agent, f"annuaire-{commune_a.insee}")
    assert "Élise Maire" not in directory and admin.user.email in directory
    assert services.sync_directory(app, commune_a) == 0
