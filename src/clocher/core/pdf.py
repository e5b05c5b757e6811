"""Printable reports: a Django template rendered to PDF by WeasyPrint, the one way the
apps' monthly reports (shield, e-services…) become a file to hand to a council."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # not its progress steps
    return bytes(HTML(string=render_to_string(template, context)).write_pdf())


def write_atomically(path: Path, data: bytes) -> None:
    """A report file is whole or absent: written beside, then renamed over."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    temp.replace(path)
