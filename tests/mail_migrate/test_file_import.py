"""File sources into the real target Dovecot: a Maildir, an mbox, a zip of .eml and an
Outlook PST made by the tests; and bad files refused with clear errors."""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from clocher.cli import main
from clocher.core.audit import Actor
from clocher.core.models import ImportStatus
from clocher.mail.migrate import services
from clocher.mail.migrate.sources import SourceError, crlf, fingerprint
from clocher.mail.models import MailImportFailure
from tests.mail_migrate.conftest import open_imap, snapshot
from tests.mail_migrate.pst_writer import (
    VERB_FORWARD,
    VERB_REPLY_TO_SENDER,
    Attachment,
    Folder,
    Message,
    write_pst,
)
from tests.mail_migrate.source_server import MALFORMED, corpus, plain, write_maildir

ACTOR = Actor(label="tests")
pytestmark = [pytest.mark.django_db(transaction=True)]
LETTERS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "D": "\\Draft"}
TARGET_NAMES = {
    "Boîte de réception": "INBOX",  # in a source without an INBOX of its own
    "Boîte de réception/Élus": "INBOX/Élus",
    "Boîte de réception/Élus/Conseil municipal": "INBOX/Élus/Conseil municipal",
    "Éléments envoyés": "Sent",
    "Éléments envoyés/2018": "Sent/2018",
    "Brouillons": "Drafts",
    "Corbeille": "Trash",
    "Éléments supprimés": "Trash",
    "Courrier indésirable": "Junk",
}


def key(raw: bytes, flags: set[str], when: datetime):
    return (fingerprint(raw), tuple(sorted(flags)), when.timestamp(), len(crlf(raw)))


def target(config, box):
    return snapshot(config.imaps_port, box.address, box.password)


def run(box, source):
    job = services.job_for(ACTOR, box.mailbox, source)
    return services.run(ACTOR, job, source)


def test_maildir_import_keeps_folders_flags_dates_and_bytes(target_settings, make_box, tmp_path):
    seeds = corpus(0.05)
    write_maildir(tmp_path / "Maildir", seeds)
    box = make_box("maildir")
    job = run(box, services.file_source("maildir", tmp_path / "Maildir"))
    assert job.status == ImportStatus.DONE, job.error
    total = sum(len(s) for s in seeds.values())
    assert (job.total, job.copied, job.failed) == (total, total, 0)
    found = target(target_settings, box)
    for parts, folder_seeds in seeds.items():
        name = "/".join(parts)
        expected = Counter(key(s.raw, {LETTERS[c] for c in s.flags}, s.when) for s in folder_seeds)
        assert found[TARGET_NAMES.get(name, name)] == expected, name
    again = run(box, services.file_source("maildir", tmp_path / "Maildir"))
    assert (again.copied, again.skipped) == (0, total)


def mbox_entry(raw: bytes, when: datetime, status: str) -> tuple[bytes, bytes]:
    """The message as stored in the mbox (with its Status header) and its From line."""
    stored = raw.replace(b"\r\n", b"\n").replace(b"\n\n", f"\nStatus: {status}\n\n".encode(), 1)
    return stored, f"From maire@ville.fr {when:%a %b %d %H:%M:%S %Y}\n".encode()


def test_mbox_made_by_the_test_imports_the_same_way(target_settings, make_box, tmp_path):
    messages = [plain(n, f"Délibération n° {n}") for n in range(1, 41)] + MALFORMED[1:2]
    expected: Counter = Counter()
    with (tmp_path / "Envoyés").open("wb") as handle:
        for index, raw in enumerate(messages):
            when = datetime(2010 + index % 10, 3, 1 + index % 27, 10, 0, tzinfo=UTC)
            status, flags = ("RO", {"\\Seen"}) if index % 2 else ("O", set())
            stored, from_line = mbox_entry(raw, when, status)
            handle.write(from_line + stored + b"\n")
            expected[key(stored, flags, when)] += 1
    box = make_box("mbox")
    job = run(box, services.file_source("mbox", tmp_path))
    assert job.status == ImportStatus.DONE, job.error
    assert (job.copied, job.failed) == (41, 0)
    assert target(target_settings, box)["Sent"] == expected  # "Envoyés" is the Sent folder
    assert run(box, services.file_source("mbox", tmp_path)).copied == 0

    # The file grew since: its positions are no proof any more, fingerprints are.
    with (tmp_path / "Envoyés").open("ab") as handle:
        for n in range(100, 105):
            stored, from_line = mbox_entry(
                plain(n, f"Nouveau {n}"), datetime(2021, 1, 1, tzinfo=UTC), "O"
            )
            handle.write(from_line + stored + b"\n")
            expected[key(stored, set(), datetime(2021, 1, 1, tzinfo=UTC))] += 1
    grown = run(box, services.file_source("mbox", tmp_path))
    assert (grown.copied, grown.skipped, grown.failed) == (5, 41, 0)
    assert target(target_settings, box)["Sent"] == expected


def test_truncated_mbox_reports_the_cut_message_and_copies_the_rest(
    target_settings, make_box, tmp_path
):
    whole = plain(1, "Entier").replace(b"\r\n", b"\n")
    cut = (
        b'From: a@b.fr\nSubject: Piece jointe\nContent-Type: multipart/mixed; boundary="zz"\n\n'
        b"--zz\nContent-Type: text/plain\n\nd\xc3\xa9but\n"
        b"--zz\nContent-Transfer-Encoding: base64\n\nAAAA"
    )
    path = tmp_path / "coupe.mbox"
    path.write_bytes(
        b"From a@b.fr Mon Jan  3 10:00:00 2011\n" + whole + b"\n"
        b"From a@b.fr Mon Jan  3 11:00:00 2011\n" + cut
    )
    box = make_box("tronque")
    job = run(box, services.file_source("mbox", path))
    assert (job.copied, job.failed) == (1, 1)
    failure = MailImportFailure.objects.get(folder__job=job)
    assert "tronqué" in failure.reason and failure.source_uid == 2
    not_mbox = tmp_path / "lettre.txt"
    not_mbox.write_text("Bonjour")
    with pytest.raises(SourceError, match="n'est pas un fichier mbox"):
        services.file_source("mbox", not_mbox)


def eml_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_eml_zip_keeps_its_folders_and_lists_what_is_not_mail(target_settings, make_box, tmp_path):
    path = tmp_path / "export.zip"
    path.write_bytes(
        eml_zip(
            {
                "Boîte de réception/1.eml": plain(1, "Un"),
                "Boîte de réception/2.eml": plain(2, "Deux"),
                "Archives/2020/conseil.eml": plain(3, "Conseil"),
                "Factures 2019.2020/facture.eml": plain(4, "Facture"),
                "Boîte de réception/3.eml": plain(5, "Octet nul", body="a\x00b"),
                "Archives/photo.jpg": b"\xff\xd8\xff\xe0 pas un message",
                "lisezmoi.txt": b"Export de l'ancienne messagerie",
                "faux.eml": b"\x00\x01 binaire",
            }
        )
    )
    box = make_box("zip")
    job = run(box, services.file_source("eml_zip", path))
    assert job.status == ImportStatus.DONE
    assert (job.copied, job.failed) == (5, 1)
    assert "photo.jpg" in job.notes and "lisezmoi.txt" in job.notes
    assert "pas un message" in MailImportFailure.objects.get(folder__job=job).reason
    found = target(target_settings, box)
    # Loose messages at the root went to INBOX: the folder keeps its name beside it.
    assert sum(found["Boîte de réception"].values()) == 3
    assert run(box, services.file_source("eml_zip", path)).copied == 0
    # Dovecot's Maildir++ refuses "." in a name: a look-alike dot keeps it readable.
    assert sum(found["Factures 2019\u20242020"].values()) == 1
    assert [k[1] for k in found["Archives/2020"]] == [("\\Seen",)]
    # The Date header gives the internal date.
    assert (
        next(iter(found["Archives/2020"]))[2] == datetime(2015, 3, 2, 8, 30, tzinfo=UTC).timestamp()
    )

    only_junk = tmp_path / "vide.zip"
    only_junk.write_bytes(eml_zip({"photo.jpg": b"x"}))
    with pytest.raises(SourceError, match=r"Aucun message \.eml.*1 autres fichiers ignorés"):
        services.file_source("eml_zip", only_junk)
    not_zip = tmp_path / "faux.zip"
    not_zip.write_bytes(b"PK pas vraiment")
    with pytest.raises(SourceError, match="n'est pas une archive zip lisible"):
        services.file_source("eml_zip", not_zip)


def outlook(n: int, subject: str, **options) -> Message:
    """A message of 2019 from the mairie, received three minutes after it was sent."""
    sent = datetime(2019, 1 + n % 12, 1 + n, 9, n, tzinfo=UTC)
    options.setdefault("received", sent + timedelta(minutes=3))
    return Message(
        subject,
        ("Mairie de Flavigny", "mairie@flavigny.fr"),
        [("Anne Élue", "anne.elue@flavigny.fr"), ("Paul Adjoint", "paul@flavigny.fr")],
        f"Bonjour,\r\n\r\n{subject} : voir l'ordre du jour.\r\n",
        sent,
        **options,
    )


DELIBERATION = Attachment(
    "délibération 2019-04.pdf", b"%PDF-1.4\n\x00\x01\xff\xfe fin\n", "application/pdf"
)
# Received mail keeps its internet headers: readpst writes them as they are, Date included
# (three minutes before the delivery, which must be the internal date).
PREFECTURE = (
    "Received: from mx.cote-dor.gouv.fr by mx.flavigny.fr; Sat, 23 Nov 2019 09:25:00 +0000\r\n"
    "From: =?utf-8?q?Pr=C3=A9fecture?= <courrier@cote-dor.gouv.fr>\r\n"
    "To: mairie@flavigny.fr\r\nSubject: =?utf-8?q?Arr=C3=AAt=C3=A9_pr=C3=A9fectoral?=\r\n"
    "Date: Sat, 23 Nov 2019 10:22:00 +0100\r\nMessage-ID: <2019-1123@cote-dor.gouv.fr>\r\n\r\n"
)
SEEN, ANSWERED, FLAGGED, DRAFT = "\\Seen", "\\Answered", "\\Flagged", "\\Draft"
REPLY, FORWARD = VERB_REPLY_TO_SENDER, VERB_FORWARD
# PST folders and their messages, with the IMAP flags each must arrive with.
PST_CORPUS: list[tuple[tuple[str, ...], list[tuple[Message, set[str]]]]] = [
    (("Boîte de réception",), [
        (outlook(1, "Ordre du jour du conseil", read=False), set()),
        (outlook(2, "Réunion de chantier"), {SEEN}),
        (outlook(21, "Réunion de chantier", read=False, flagged=True), {FLAGGED}),
        (outlook(22, "Arrêté préfectoral", headers=PREFECTURE, verb=REPLY), {SEEN, ANSWERED}),
        (outlook(3, "Subvention DETR", flagged=True), {SEEN, FLAGGED}),
        (outlook(4, "Réponse au préfet", verb=REPLY), {SEEN, ANSWERED}),
        (outlook(5, "Transfert du devis", verb=FORWARD, read=False), {ANSWERED}),
        (outlook(6, "Délibération signée", attachments=[DELIBERATION]), {SEEN}),
        (outlook(7, "Bulletin municipal", html="<p>Le <b>bulletin</b></p>"), {SEEN}),
    ]),
    (("Boîte de réception", "Élus"), [
        (outlook(8, "Astreinte du week-end", flagged=True, read=False), {FLAGGED}),
        (outlook(9, "Commission des finances"), {SEEN}),
    ]),
    (("Boîte de réception", "Élus", "Conseil municipal"), [
        (outlook(10, "Procès-verbal de mars"), {SEEN}),
        (outlook(11, "PV d'avril", verb=REPLY, flagged=True), {SEEN, ANSWERED, FLAGGED}),
        (outlook(12, "Convocation du 12 juin", read=False), set()),
    ]),
    (("Éléments envoyés",), [
        (outlook(13, "Envoi du budget primitif", received=None), {SEEN}),
        (outlook(14, "Demande de devis", received=None), {SEEN}),
        (outlook(15, "Arrêté de voirie", received=None), {SEEN}),
    ]),
    (("Brouillons",), [
        (outlook(16, "Discours des vœux", received=None, draft=True), {SEEN, DRAFT}),
        (outlook(17, "Lettre aux riverains", received=None, draft=True, read=False), {DRAFT}),
    ]),
    (("Éléments supprimés",), [
        (outlook(18, "Ancienne invitation"), {SEEN}),
        (outlook(19, "Publicité imprimeur"), {SEEN}),
    ]),
    (("Courrier indésirable",), [(outlook(20, "Vous avez gagné", read=False), set())]),
]  # fmt: skip


def pst_folders() -> list[Folder]:
    """PST_CORPUS as the folder tree the writer takes."""
    top: list[Folder] = []
    by_path: dict[tuple[str, ...], Folder] = {}
    for parts, messages in PST_CORPUS:
        folder = Folder(parts[-1], [m for m, _flags in messages])
        (by_path[parts[:-1]].folders if len(parts) > 1 else top).append(folder)
        by_path[parts] = folder
    return top


def imap_messages(config, box) -> dict[str, list[tuple[str, set[str], float, list]]]:
    """Folder → (subject, flags, internal date, attachments) of each message, by IMAP."""
    client = open_imap(config.imaps_port, box.address, box.password)
    found = {}
    try:
        for _flags, _sep, name in client.list_folders():
            client.select_folder(name, readonly=True)
            fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
            found[name] = []
            for data in fetched.values():
                parsed = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
                attachments = [
                    (a.get_filename(), a.get_content()) for a in parsed.iter_attachments()
                ]
                flags = {f.decode() for f in data[b"FLAGS"]} - {"\\Recent"}
                found[name].append(
                    (str(parsed["Subject"]), flags, data[b"INTERNALDATE"].timestamp(), attachments)
                )
    finally:
        client.logout()
    return found


def test_pst_made_by_the_test_imports_the_same_way(target_settings, make_box, tmp_path):
    """A PST written by the tests' own writer goes through the real readpst and libpff:
    every folder with its accents and nesting, Outlook's special folders as the
    mailbox's, each message's flags and delivery date (also for two messages of the same
    subject, and one with its internet headers), its attachment's bytes."""
    pst = tmp_path / "outlook.pst"
    write_pst(pst, "Mairie de Flavigny", pst_folders())
    box = make_box("pst")
    job = run(box, services.file_source("pst", pst))
    assert job.status == ImportStatus.DONE, job.error
    assert (job.copied, job.failed) == (22, 0)
    found = imap_messages(target_settings, box)
    for parts, messages in PST_CORPUS:
        name = "/".join(parts)
        expected = [
            (
                m.subject,
                flags,
                m.delivered.timestamp(),
                [(a.filename, a.data) for a in m.attachments],
            )
            for m, flags in messages
        ]
        assert sorted(found[TARGET_NAMES.get(name, name)]) == sorted(expected), name
    again = run(box, services.file_source("pst", pst))
    assert (again.copied, again.skipped) == (0, 22)


def test_file_that_is_not_a_pst_is_refused_clearly(target_settings, make_box, tmp_path):
    pst = tmp_path / "outlook.pst"
    pst.write_bytes(b"!BDN" + b"\x00" * 512)
    box = make_box("pasunpst")
    result = CliRunner().invoke(main, ["mail", "import", box.address, "--pst", str(pst)])
    assert result.exit_code == 1 and "n'est pas un fichier PST lisible" in result.output


def test_cli_needs_exactly_one_source(target_settings, make_box, tmp_path):
    box = make_box("cli")
    result = CliRunner().invoke(main, ["mail", "import", box.address])
    assert result.exit_code == 1 and "une source, et une seule" in result.output
    result = CliRunner().invoke(
        main, ["mail", "import", "inconnue@communes.cotedor.fr", "--maildir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "inconnue" in result.output


def test_import_that_cannot_fit_the_quota_is_refused_before_copying(
    target_settings, make_box, tmp_path
):
    big = plain(1, "Gros", body="x" * (3 * 1024 * 1024))
    (tmp_path / "gros.mbox").write_bytes(b"From a@b.fr Mon Jan  3 10:00:00 2011\n" + big + b"\n")
    box = make_box("petite", quota=2 * 1024 * 1024)
    job = run(box, services.file_source("mbox", tmp_path / "gros.mbox"))
    assert job.status == ImportStatus.FAILED and job.copied == 0
    assert "augmentez son quota" in job.error and "quota 2 Mio" in job.error


def test_batch_appended_but_not_recorded_is_not_sent_again(target_settings, make_box, tmp_path):
    """The state a kill between APPEND and commit leaves: a pending batch of which two
    messages reached the target and one did not. The next run records the two, sends
    the third and the rest, and the target holds each message once."""
    from clocher.mail.models import MailImportFolder

    path = tmp_path / "boite.mbox"
    with path.open("wb") as handle:
        for n in range(1, 7):
            handle.write(
                b"From a@b.fr Mon Jan  3 10:00:00 2011\n" + plain(n, f"Lettre {n}") + b"\n"
            )
    box = make_box("reprisecoupee")
    source = services.file_source("mbox", path)
    job = services.job_for(ACTOR, box.mailbox, source)
    folder = source.folders()[0]
    reader = source.open()
    listing = reader.listing(folder)
    batch = reader.fetch(folder, [1, 2, 3])
    client = open_imap(target_settings.imaps_port, box.address, box.password)
    uidnext = client.folder_status("INBOX", ["UIDNEXT"])[b"UIDNEXT"]
    for message in batch[:2]:
        client.append("INBOX", message.raw, message.flags, message.internal_date)
    client.logout()
    MailImportFolder.objects.create(
        job=job,
        source_name="INBOX",
        target_name="INBOX",
        uidvalidity=listing.uidvalidity,
        pending={"uidnext": uidnext, "messages": [[m.uid, fingerprint(m.raw)] for m in batch]},
    )
    job = services.run(ACTOR, job, services.file_source("mbox", path))
    assert (job.copied, job.skipped, job.failed) == (4, 2, 0)
    inbox = target(target_settings, box)["INBOX"]
    assert sum(inbox.values()) == 6 and set(inbox.values()) == {1}
