"""The webmail's address books (`GET /oauth/carnet`, read by Roundcube's
`clocher_addressbook` plugin) over real HTTP: the access token of the webmail is required,
the books are those of the commune of the mailbox it opened (directory, the commune's and
the person's own CardDAV contacts, written here through CardDAV), never another commune's,
and they close with the person's access. Compose's autocomplete in Chromium:
tests/mail/test_webmail_contacts.py."""

from __future__ import annotations

import pytest
import requests

from clocher.api.services import create_token
from clocher.core import services as core_services
from clocher.core.audit import Actor
from clocher.core.models import Membership, Role
from clocher.groupware.webmail import sso
from clocher.mail import services as mail_services
from clocher.mail.models import MailboxKind
from tests.groupware.conftest import ACTOR, Account, account
from tests.groupware.test_carddav import put, vcard

pytestmark = pytest.mark.django_db(transaction=True)

REDIRECT_PATH = sso.REDIRECT_PATH


def webmail_token(user, mailbox, origin: str = "http://testserver") -> str:
    """What Roundcube holds after the console's « Webmail » link (code, then token)."""
    granted = sso.authorize(
        Actor(user=user), mailbox_id=mailbox.pk, redirect_uri=origin + REDIRECT_PATH, session_key=""
    )
    answer = sso.exchange_code(granted.code, origin + REDIRECT_PATH, "", origin)
    return answer["access_token"]


def carnet(server: str, token: str | None = None, **headers: str) -> requests.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(f"{server}/oauth/carnet", headers=headers, timeout=60)


def books(server: str, token: str) -> dict[str, list[dict]]:
    answer = carnet(server, token)
    assert answer.status_code == 200, answer.text
    return {b["id"]: b["contacts"] for b in answer.json()["carnets"]}


def addresses(contacts: list[dict]) -> set[str]:
    return {e for c in contacts for e in c["emails"]}


def mailbox(user, commune, local: str, kind: str = MailboxKind.PERSONAL):
    return mail_services.create_mailbox(
        ACTOR,
        commune,
        f"{local}@communes.cotedor.fr",
        kind=kind,
        user=user if kind == MailboxKind.PERSONAL else None,
    )


@pytest.fixture
def people(server, operator, admin_a, agent_a, admin_b, commune_a, commune_b):
    """A's admin and agent, B's admin, each with a personal mailbox; A's shared box."""
    admin_a.full_name = "Sylvie Secrétaire"
    admin_a.save()
    Membership.objects.filter(user=admin_a).update(title="Secrétaire de mairie")
    admin_b.full_name = "Bernard Vougeot"
    admin_b.save()
    return {
        "admin_a": (account(server, admin_a), mailbox(admin_a, commune_a, "sylvie.secretaire")),
        "agent_a": (account(server, agent_a), mailbox(agent_a, commune_a, "agent.flavigny")),
        "admin_b": (account(server, admin_b), mailbox(admin_b, commune_b, "bernard.vougeot")),
        "shared_a": mailbox(None, commune_a, "accueil.flavigny", MailboxKind.SHARED),
    }


def test_books_of_the_mailbox_commune_and_nothing_of_another(server, people, commune_a):
    admin: Account = people["admin_a"][0]
    agent, agent_box = people["agent_a"]
    other, other_box = people["admin_b"]
    # Contacts put through CardDAV: the agent's own, the commune's, and B's own.
    plumber = vcard("plombier", "Plomberie Martin", "contact@martin.test")
    assert put(agent, f"{agent.addressbooks}contacts/plombier.vcf", plumber).status_code == 201
    shared = f"{admin.addressbooks}commune-{commune_a.insee}/ecole.vcf"
    assert put(admin, shared, vcard("ecole", "École primaire", "ecole@x.test")).status_code == 201
    supplier = vcard("b", "Fournisseur de B", "fournisseur@b.test")
    assert put(other, f"{other.addressbooks}contacts/b.vcf", supplier).status_code == 201

    mine = books(server, webmail_token(agent.user, agent_box))
    assert set(mine) == {"annuaire", "commune", "personnel"}
    directory = {c["nom"]: c for c in mine["annuaire"]}
    assert directory["Sylvie Secrétaire"]["emails"] == [people["admin_a"][1].address]
    assert directory["Sylvie Secrétaire"]["fonction"] == "Secrétaire de mairie"
    assert people["shared_a"].address in addresses(mine["annuaire"])
    assert addresses(mine["commune"]) == {"ecole@x.test"}
    assert addresses(mine["personnel"]) == {"contact@martin.test"}
    everything = set().union(*(addresses(c) for c in mine.values()))
    assert not everything & {other_box.address, "fournisseur@b.test"}

    theirs = books(server, webmail_token(other.user, other_box))
    assert addresses(theirs["annuaire"]) == {other_box.address}
    assert theirs["commune"] == []
    assert addresses(theirs["personnel"]) == {"fournisseur@b.test"}
    answer = carnet(server, webmail_token(other.user, other_box)).text
    for secret in ("Sylvie", "martin.test", "ecole@x.test", "accueil.flavigny", "agent.flavigny"):
        assert secret not in answer


def test_the_webmail_token_is_required(server, people):
    agent, agent_box = people["agent_a"]
    token = webmail_token(agent.user, agent_box)
    _, api_token = create_token(ACTOR, agent.user, "programme")
    for answer in (
        carnet(server),
        carnet(server, "x" * 43),
        carnet(server, token[:-1] + ("A" if token[-1] != "A" else "B")),
        carnet(server, api_token),  # Clocher's API token is no webmail token
        carnet(server, Authorization=f"Basic {agent.password}"),
    ):
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_token"
        assert "agent.flavigny" not in answer.text
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{server}/oauth/carnet", headers=bearer, timeout=60).status_code == 405
    assert carnet(server, token).status_code == 200


def test_books_close_with_the_member_and_follow_the_opened_mailbox(
    server, people, commune_a, commune_b
):
    agent, agent_box = people["agent_a"]
    token = webmail_token(agent.user, agent_box)
    # A member of A and B who opened B's mailbox sees B's books only.
    core_services.add_member(ACTOR, commune_b, agent.user.email, Role.AGENT, invite=False)
    box_b = mailbox(agent.user, commune_b, "agent.vougeot")
    in_b = books(server, webmail_token(agent.user, box_b))
    assert people["admin_b"][1].address in addresses(in_b["annuaire"])
    assert agent_box.address not in addresses(in_b["annuaire"])
    assert people["shared_a"].address not in addresses(in_b["annuaire"])
    # Deactivated in A: the token of A's mailbox opens nothing any more.
    assert carnet(server, token).status_code == 200
    core_services.deactivate_member(
        ACTOR, Membership.objects.get(user=agent.user, commune=commune_a)
    )
    assert carnet(server, token).status_code == 401


def test_cards_are_read_as_vobject_reads_them():
    """The light reader (no vobject per card, see `contacts._from_vcard`) gives what the
    full parser gives: folded lines, escapes, grouped and several addresses, units."""
    import vobject

    from clocher.groupware.webmail.contacts import _from_vcard

    text = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Dupont\\, Marie-Hélène de la Gran\r\n"
        " de-Rue\r\nN:Dupont;Marie;;;\r\nitem1.EMAIL;TYPE=INTERNET:marie@exemple.fr\r\n"
        "EMAIL;TYPE=WORK,PREF:m.dupont@mairie.test\r\nORG:Mairie\\; annexe;Services "
        "techniques\r\nTITLE:Cheffe d'équipe\r\nEND:VCARD\r\n"
    )
    contact = _from_vcard("u1.vcf", text)
    card = vobject.readOne(text)
    assert contact is not None
    assert contact.nom == card.fn.value == "Dupont, Marie-Hélène de la Grande-Rue"
    assert contact.emails == [e.value for e in card.email_list]
    assert contact.organisation == " ".join(card.org.value) == "Mairie; annexe Services techniques"
    assert contact.fonction == card.title.value
    assert (
        _from_vcard("x.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Sans adresse\r\nEND:VCARD\r\n")
        is None
    )
