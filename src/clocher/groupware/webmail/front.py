"""`/webmail/` on Clocher's own port: Roundcube's static files read from disk, its PHP
relayed to php-fpm over FastCGI (Unix socket), so the webmail needs no second web server
nor port and shares the front (TLS, HAProxy) of the rest of the platform.

The FastCGI client is the responder role of the FastCGI 1.0 specification, one request
per connection: about a hundred lines, where a reverse proxy from Debian (nginx) would be
one more daemon to start, configure and supervise for this one path.
"""

from __future__ import annotations

import logging
import mimetypes
import socket
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

PREFIX = "/webmail"
SCRIPT = "index.php"
# What Roundcube's pages load from public_html; anything else (PHP, config) never is.
STATIC_SUFFIXES = {
    ".css", ".js", ".map", ".png", ".gif", ".jpg", ".jpeg", ".svg", ".ico", ".webp",
    ".woff", ".woff2", ".ttf", ".eot", ".html", ".json", ".txt",
}  # fmt: skip
TIMEOUT = 300.0  # a large attachment on a loaded machine

_BEGIN, _END, _PARAMS, _STDIN, _STDOUT, _STDERR = 1, 3, 4, 5, 6, 7
_RESPONDER = 1
_MAX = 65535
log = logging.getLogger("clocher.webmail")

StartResponse = Callable[..., Any]


def _record(kind: int, content: bytes = b"", request_id: int = 1) -> bytes:
    padding = -len(content) % 8
    header = struct.pack("!BBHHBx", 1, kind, request_id, len(content), padding)
    return header + content + b"\0" * padding


def _length(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def _params(params: dict[str, str]) -> bytes:
    body = b"".join(
        _length(len(k.encode())) + _length(len(v.encode("latin-1", "replace")))
        + k.encode() + v.encode("latin-1", "replace")
        for k, v in params.items()
    )  # fmt: skip
    records = [_record(_PARAMS, body[i : i + _MAX]) for i in range(0, len(body), _MAX)]
    return b"".join(records) + _record(_PARAMS)


class _Reader:
    """FastCGI records from php-fpm, as (type, content)."""

    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")

    def records(self) -> Iterator[tuple[int, bytes]]:
        while True:
            header = self.file.read(8)
            if len(header) < 8:
                return
            _version, kind, _rid, length, padding = struct.unpack("!BBHHBx", header)
            content = self.file.read(length)
            self.file.read(padding)
            yield kind, content
            if kind == _END:
                return


def fastcgi_request(
    socket_path: str, params: dict[str, str], body: Iterable[bytes]
) -> tuple[socket.socket, Iterator[bytes]]:
    """Send one request; return the connection and the iterator of its stdout chunks."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect(socket_path)
    sock.sendall(_record(_BEGIN, struct.pack("!HB5x", _RESPONDER, 0)) + _params(params))
    for chunk in body:
        for i in range(0, len(chunk), _MAX):
            sock.sendall(_record(_STDIN, chunk[i : i + _MAX]))
    sock.sendall(_record(_STDIN))

    def stdout() -> Iterator[bytes]:
        for kind, content in _Reader(sock).records():
            if kind == _STDOUT and content:
                yield content
            elif kind == _STDERR and content:
                log.warning("php-fpm: %s", content.decode(errors="replace").strip())

    return sock, stdout()


def _body(environ: dict[str, Any]) -> Iterator[bytes]:
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _split_headers(chunks: Iterator[bytes]) -> tuple[str, list[tuple[str, str]], bytes]:
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        if b"\r\n\r\n" in buffer or b"\n\n" in buffer:
            break
    separator = b"\r\n\r\n" if b"\r\n\r\n" in buffer else b"\n\n"
    head, _, rest = buffer.partition(separator)
    status = "200 OK"
    headers = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = value.strip()
        elif name:
            headers.append((name.strip(), value.strip()))
    return status, headers, rest


class WebmailFront:
    """The WSGI side of `/webmail/`: static files from `public_html`, PHP to php-fpm."""

    def __init__(self, public_html: Path, socket_path: str) -> None:
        self.public_html = public_html
        self.socket_path = socket_path

    @staticmethod
    def handles(path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        relative = environ.get("PATH_INFO", "")[len(PREFIX) :]
        if relative in ("", "/" + SCRIPT) and not environ.get("QUERY_STRING"):
            start_response("302 Found", [("Location", PREFIX + "/")])
            return [b""]
        if relative == "/" or relative == "/" + SCRIPT or relative.startswith(f"/{SCRIPT}/"):
            return self._php(environ, start_response, relative[len("/" + SCRIPT) :])
        return self._static(relative.lstrip("/"), start_response)

    def _static(self, relative: str, start_response: StartResponse) -> Iterable[bytes]:
        path = self.public_html / relative
        if (
            ".." in Path(relative).parts
            or path.suffix.lower() not in STATIC_SUFFIXES
            or not path.is_file()
        ):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Introuvable."]
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = path.read_bytes()
        start_response(
            "200 OK",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(data))),
                ("Cache-Control", "public, max-age=604800"),
            ],
        )
        return [data]

    def _php(
        self, environ: dict[str, Any], start_response: StartResponse, path_info: str
    ) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        uri = (
            environ.get("RAW_URI")
            or environ.get("REQUEST_URI")
            or (quote(environ.get("PATH_INFO", "")) + (f"?{query}" if query else ""))
        )
        https = environ.get("wsgi.url_scheme") == "https"
        params = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": "clocher",
            "REQUEST_METHOD": environ.get("REQUEST_METHOD", "GET"),
            "SCRIPT_FILENAME": str(self.public_html / SCRIPT),
            "SCRIPT_NAME": f"{PREFIX}/{SCRIPT}",
            "PATH_INFO": path_info,
            "REQUEST_URI": uri,
            "DOCUMENT_URI": f"{PREFIX}/{SCRIPT}",
            "DOCUMENT_ROOT": str(self.public_html),
            "QUERY_STRING": query,
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": environ.get("CONTENT_LENGTH", "") or "",
            "SERVER_NAME": environ.get("SERVER_NAME", "localhost"),
            "SERVER_PORT": str(environ.get("SERVER_PORT", "80")),
            "SERVER_PROTOCOL": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", ""),
            "REMOTE_PORT": str(environ.get("REMOTE_PORT", "")),
            "REDIRECT_STATUS": "200",
            **({"HTTPS": "on"} if https else {}),
        }
        for key, value in environ.items():
            if key.startswith("HTTP_") and key != "HTTP_PROXY":  # httpoxy
                params[key] = str(value)
        try:
            sock, chunks = fastcgi_request(self.socket_path, params, _body(environ))
        except OSError as exc:
            log.error("webmail: php-fpm injoignable (%s)", exc)
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")]
            )
            return ["La messagerie web ne répond pas : réessayez dans un instant.".encode()]
        status, headers, first = _split_headers(chunks)
        start_response(status, headers)

        def stream() -> Iterator[bytes]:
            try:
                if first:
                    yield first
                yield from chunks
            finally:
                sock.close()

        return stream()
