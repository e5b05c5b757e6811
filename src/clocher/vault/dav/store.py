"""Locks and dead properties of WebDAV in the database, so every web process sees the
same ones. WsgiDAV's own managers keep them in a mapping; this is that mapping."""

from __future__ import annotations

import base64
from collections.abc import Iterator, MutableMapping
from typing import Any

from wsgidav.lock_man.lock_storage import LockStorageDict
from wsgidav.prop_man.property_manager import PropertyManager

from clocher.vault.models import DavEntry


def _encode(value: Any) -> Any:
    """JSON for what WsgiDAV stores: it keeps XML fragments (lock owners, property
    values) as bytes."""
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


class DatabaseMapping(MutableMapping[str, Any]):
    def __init__(self, namespace: str) -> None:
        self.prefix = f"{namespace}:"

    def __getitem__(self, key: str) -> Any:
        row = DavEntry.objects.filter(key=self.prefix + key).first()
        if row is None:
            raise KeyError(key)
        return _decode(row.value)

    def __setitem__(self, key: str, value: Any) -> None:
        DavEntry.objects.update_or_create(key=self.prefix + key, defaults={"value": _encode(value)})

    def __delitem__(self, key: str) -> None:
        deleted, _ = DavEntry.objects.filter(key=self.prefix + key).delete()
        if not deleted:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for key in DavEntry.objects.filter(key__startswith=self.prefix).values_list(
            "key", flat=True
        ):
            yield key[len(self.prefix) :]

    def __len__(self) -> int:
        return DavEntry.objects.filter(key__startswith=self.prefix).count()

    def __contains__(self, key: object) -> bool:
        return DavEntry.objects.filter(key=f"{self.prefix}{key}").exists()


class DatabaseLockStorage(LockStorageDict):
    def open(self) -> None:
        self._dict = DatabaseMapping("lock")

    def close(self) -> None:
        pass


class DatabasePropertyManager(PropertyManager):
    def _lazy_open(self) -> None:
        self._dict = DatabaseMapping("prop")
        self._loaded = True

    def _sync(self) -> None:
        pass

    def _close(self) -> None:
        pass
