"""Browser uploads streamed straight into the vault.

Django's default handlers spool large uploads to a temporary file in clear; this handler
feeds each file's bytes into a `ChunkWriter` as they arrive, so content is only ever
written sealed, and memory stays bounded whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from clocher.core.models import Commune
from clocher.storage.chunks import ChunkWriter


@dataclass
class StreamedFile:
    """What lands in `request.FILES`: the name as sent (the vault judges it, with its own
    rules and a clear message), the type and the sealed upload."""

    name: str
    content_type: str
    vault_upload: ChunkWriter


class VaultUploadHandler(FileUploadHandler):
    def __init__(self, commune: Commune, room: int, request: Any = None) -> None:
        super().__init__(request)
        self.commune = commune
        self.room = room  # bytes the quota still allows, for all files of the request
        self.received = 0
        self.over_quota = False
        self.upload: ChunkWriter | None = None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.upload = ChunkWriter(self.commune)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self.upload is not None
        self.received += len(raw_data)
        if self.received > self.room:
            # Stop reading now rather than store what the quota will refuse anyway.
            self.over_quota = True
            raise StopUpload(connection_reset=True)
        self.upload.write(raw_data)
        return None  # consumed: no other handler sees the bytes

    def file_complete(self, file_size: int) -> Any:
        assert self.upload is not None
        return StreamedFile(self.file_name or "", self.content_type or "", self.upload)
