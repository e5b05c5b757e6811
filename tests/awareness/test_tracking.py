"""The tracking image as the web server calls it: the platform's WSGI dispatcher answers
a sent message's image before Django's stack, records one open however many loads, and
leaves everything else (unknown token, message not sent, other method, refused host) to
Django, which answers as it always did."""

from __future__ import annotations

import io
from datetime import timedelta
from wsgiref.util import setup_testing_defaults

import pytest
from django.core import mail
from django.core.wsgi import get_wsgi_application
from django.utils import timezone

from clocher.awareness import services
from clocher.awareness.models import Event, EventKind, Recipient
from clocher.vault.dav.app import Dispatcher
from tests.awareness.conftest import ACTOR

# The dispatcher gives the database connection back after each hit, as Django's request
# signals do: that needs real transactions, not the test's wrapping one.
pytestmark = pytest.mark.django_db(transaction=True)


def call(
    path: str, method: str = "GET", host: str = "localhost"
) -> tuple[int, dict[str, str], bytes]:
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": method, "HTTP_HOST": host}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(b"")
    seen: dict = {}

    def start_response(status: str, headers: list, *args: object) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(Dispatcher(get_wsgi_application())(environ, start_response))
    return seen["status"], seen["headers"], body


@pytest.fixture
def recipient(enrolled, commune_a) -> Recipient:
    enrolled(1)
    campaign = services.create_campaign(ACTOR, commune_a, "Exercice", timezone.localdate())
    services.send_due(timezone.now() + timedelta(days=60), campaign=campaign)
    assert len(mail.outbox) == 1
    return Recipient.objects.get(campaign=campaign)


def test_image_of_a_sent_message_is_answered_and_recorded_once(recipient):
    path = f"/sensibilisation/o/{recipient.token}/image.gif"
    for _ in range(3):  # a mail client loads it again and again
        status, headers, body = call(path)
        assert status == 200 and body.startswith(b"GIF89a")
        assert headers["Content-Type"] == "image/gif"
        assert int(headers["Content-Length"]) == len(body)
        assert "no-store" in headers["Cache-Control"]  # never answered by a cache
        # Shown inside a message, the image is read from the mail client's origin.
        assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    status, headers, body = call(path, method="HEAD")
    assert (status, body) == (200, b"")
    (opened,) = Event.objects.filter(kind=EventKind.OPENED)
    assert (opened.recipient_id, opened.commune_id) == (recipient.pk, recipient.commune_id)


def test_anything_else_is_answered_by_django_and_records_nothing(recipient):
    path = f"/sensibilisation/o/{recipient.token}/image.gif"
    assert call("/sensibilisation/o/" + "x" * 32 + "/image.gif")[0] == 404
    assert call("/sensibilisation/o/../../etc/passwd/image.gif")[0] == 404
    assert call(path, method="POST")[0] == 403  # Django: no CSRF token
    assert call(path, host="evil.example")[0] == 400  # Django's host check still applies
    Recipient.objects.update(sent_at=None)
    assert call(path)[0] == 404  # not sent yet: no image to load
    assert not Event.objects.filter(kind=EventKind.OPENED).exists()
