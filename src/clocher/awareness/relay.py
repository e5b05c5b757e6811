"""Hand a reported message from the mail servers to the web, which records it.

Postfix's `signalement` pipe transport (a message forwarded to `signalement@<domain>`)
and Dovecot's imapsieve rule (a message moved into the "Signaler" folder) run this as
the mail user `vmail`, which may not open the database (SQLite in the data dir, owned by
Clocher): so it only posts the message to `/interne/sensibilisation/signalement` with the
secret the mail servers share with the web (as Dovecot's policy requests do).

Standard library only, and no Django: it starts for every report.
Usage: python -m clocher.awareness.relay URL SECRET_FILE address|folder REPORTER < message
Exit 0: recorded (or queued for the operator); 75 (EX_TEMPFAIL): the web did not answer,
Postfix keeps the message and tries again.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

# A report's token is in the first lines of the message; the operator sees the start of a
# real phishing. More is not sent (the web refuses bodies over 2.5 MB).
MAX_BYTES = 2 * 1024 * 1024
EX_USAGE, EX_TEMPFAIL = 64, 75


def relay(url: str, secret: str, channel: str, reporter: str, raw: bytes) -> int:
    request = urllib.request.Request(  # noqa: S310 - the URL comes from Clocher's config
        url,
        data=raw[:MAX_BYTES],
        method="POST",
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "message/rfc822",
            "X-Clocher-Channel": channel,
            "X-Clocher-Reporter": reporter,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            print(answer.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"signalement refusé par Clocher : HTTP {exc.code}", file=sys.stderr)
        return EX_TEMPFAIL if exc.code >= 500 else EX_USAGE
    except OSError as exc:
        print(f"Clocher injoignable ({exc}) : nouvel essai plus tard", file=sys.stderr)
        return EX_TEMPFAIL


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return EX_USAGE
    url, secret_file, channel, reporter = argv
    secret = Path(secret_file).read_text().strip()
    return relay(url, secret, channel, reporter, sys.stdin.buffer.read())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
