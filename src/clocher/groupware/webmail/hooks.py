"""The webmail under `clocher serve`: php-fpm, with Roundcube's configuration written
first, on every node of the web role (gunicorn relays /webmail/ to it over a local Unix
socket); Postfix and Dovecot may run on another node (CLOCHER_WEBMAIL_MAIL_HOST)."""

from __future__ import annotations

from django.conf import settings

from clocher.core import supervisor
from clocher.groupware.webmail import roundcube


@supervisor.register_web
def webmail_daemons() -> list[supervisor.Child]:
    if not (settings.WEBMAIL_ENABLED and settings.MAIL_ENABLED):
        return []
    if not roundcube.available():
        raise supervisor.CannotStart(
            "Roundcube ou php-fpm absent : lancez `make install` (paquets Debian), "
            "ou CLOCHER_WEBMAIL_ENABLED=0."
        )
    from clocher.mail.engines.config import MailConfig

    roundcube.prepare(MailConfig.from_settings(), f"http://{settings.BIND}")
    return [supervisor.Child("webmail (php-fpm)", roundcube.fpm_argv(), roundcube.fpm_pidfiles())]
