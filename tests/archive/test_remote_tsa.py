"""A configured TSA URL (CLOCHER_ARCHIVE_TSA_URL): the deposit asks it over HTTP with
RFC 3161's media types. The authority here is Clocher's own endpoint served by a real
HTTP server (cheroot) in a thread, standing in for a qualified one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from cheroot import wsgi
from django.core.exceptions import ValidationError
from django.core.handlers.wsgi import WSGIHandler

from clocher.archive import tsa
from clocher.archive.models import ArchivedObject, JournalEntry
from tests.archive.conftest import deposit

pytestmark = pytest.mark.django_db


@pytest.fixture
def tsa_server() -> Iterator[str]:
    tsa.embedded_signer()  # key made here, not in the server's thread
    server = wsgi.Server(("127.0.0.1", 0), WSGIHandler(), numthreads=2)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    host, port = server.bind_addr
    yield f"http://{host}:{port}"
    server.stop()
    thread.join(timeout=10)


def test_deposit_time_stamped_by_the_configured_authority(settings, commune_a, tsa_server):
    settings.ARCHIVE_TSA_URL = f"{tsa_server}/horodatage/"
    settings.ARCHIVE_TSA_NAME = "Autorité du Département"
    obj = deposit(commune_a)
    assert obj.tsa_name == "Autorité du Département (non qualifiée)"
    info = tsa.check_response(bytes(obj.timestamp_token), bytes.fromhex(obj.sha256))
    assert info.certificates  # certReq: the authority's certificate is in the token

    settings.ARCHIVE_TSA_QUALIFIED = True
    assert deposit(commune_a, title="Autre").tsa_name == "Autorité du Département"


def test_an_unreachable_or_refusing_authority_stores_nothing(settings, commune_a, tsa_server):
    settings.ARCHIVE_TSA_URL = f"{tsa_server}/pas-une-autorite/"
    with pytest.raises(ValidationError, match="Horodatage impossible.*HTTP 404"):
        deposit(commune_a)
    settings.ARCHIVE_TSA_URL = "http://127.0.0.1:9/horodatage/"
    with pytest.raises(ValidationError, match="injoignable"):
        deposit(commune_a)
    assert not ArchivedObject.objects.exists() and not JournalEntry.objects.exists()
