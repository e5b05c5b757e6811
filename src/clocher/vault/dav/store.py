"""Locks and dead properties of WebDAV in the database, so every web process sees the
same ones. WsgiDAV's own managers keep them in a mapping; this is that mapping."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from wsgidav import util
from wsgidav.lock_man.lock_storage import LockStorageDict, normalize_lock_root
from wsgidav.prop_man.property_manager import PropertyManager

from clocher.core.prepared import Prepared
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


_request = threading.local()
_MISSING = object()
URL_KEY = "URL2TOKEN:"
# `/remote.php/dav/files/<login>`: nothing above a person's root can be locked (there is
# no resource there), so lock lookups for those paths need no query.
LOGIN_ROOT_SEGMENTS = 5


@contextmanager
def request_scope() -> Iterator[None]:
    """Within one DAV request, read each key once: WsgiDAV asks for the locks of every
    ancestor of every path it touches, several times per request."""
    _request.cache = {}
    try:
        yield
    finally:
        _request.cache = None


def _cache() -> dict[str, Any] | None:
    return getattr(_request, "cache", None)


def dead_properties(folder_ref_url: str) -> dict[str, dict[str, Any]]:
    """The dead properties of a folder and of its direct members, by reference URL, in
    one query (the fast PROPFIND path)."""
    prefix = "prop:" + folder_ref_url
    pattern = "^" + re.escape(prefix) + "([^/]+/?)?$"
    return {
        row.key[len("prop:") :]: _decode(row.value)
        for row in DavEntry.objects.filter(key__prefix=prefix, key__regex=pattern)
    }


def holds_locks(ref_url: str) -> bool:
    """Whether anything in the tree of the person whose path `ref_url` is in is locked
    (locks live in each person's namespace: `/remote.php/dav/files/<login>/…`)."""
    return bool(_LOCKS_UNDER.rows(locks_prefix(ref_url)))


def locks_prefix(ref_url: str) -> str:
    """The start of the keys of the locks in the tree of the person of `ref_url`."""
    root = "/".join(ref_url.split("/")[:LOGIN_ROOT_SEGMENTS])
    return f"lock:{URL_KEY}{root}"


# Compiled once per process (`core.prepared`): every fast PUT asks it.
_LOCKS_UNDER = Prepared(
    lambda prefix: DavEntry.objects.filter(key__prefix=prefix).values_list("pk")[:1]
)


class DatabaseMapping(MutableMapping[str, Any]):
    def __init__(self, namespace: str) -> None:
        self.prefix = f"{namespace}:"

    def __getitem__(self, key: str) -> Any:
        full_key = self.prefix + key
        cache = _cache()
        if cache is None:
            value = self._load(full_key)
        else:
            if full_key not in cache:
                self._fill(cache, full_key)
            value = cache[full_key]
        if value is _MISSING:
            raise KeyError(key)
        return value

    def _load(self, full_key: str) -> Any:
        row = DavEntry.objects.filter(key=full_key).first()
        return _MISSING if row is None else _decode(row.value)

    def _fill(self, cache: dict[str, Any], full_key: str) -> None:
        """One query for every lock under the person's root the first time one is asked,
        and for the dead properties of a resource and its siblings (a PROPFIND Depth 1
        asks for each member's in turn)."""
        url_prefix = self.prefix + URL_KEY
        if self.prefix == "prop:" and "/" in full_key:
            self._fill_siblings(cache, full_key)
            return
        if not full_key.startswith(url_prefix):
            cache[full_key] = self._load(full_key)
            return
        segments = full_key[len(url_prefix) :].split("/")
        if len(segments) < LOGIN_ROOT_SEGMENTS:
            cache[full_key] = _MISSING
            return
        root = url_prefix + "/".join(segments[:LOGIN_ROOT_SEGMENTS])
        loaded = cache.setdefault("__loaded_roots__", set())
        if root not in loaded:
            loaded.add(root)
            for row in DavEntry.objects.filter(key__prefix=root):
                cache[row.key] = _decode(row.value)
        cache.setdefault(full_key, _MISSING)

    def _fill_siblings(self, cache: dict[str, Any], full_key: str) -> None:
        parent = full_key.rstrip("/").rsplit("/", 1)[0] + "/"
        loaded = cache.setdefault("__loaded_folders__", set())
        if parent not in loaded:
            loaded.add(parent)
            pattern = "^" + re.escape(parent) + "[^/]+/?$"
            for row in DavEntry.objects.filter(key__prefix=parent, key__regex=pattern):
                cache[row.key] = _decode(row.value)
        cache.setdefault(full_key, _MISSING)

    def __setitem__(self, key: str, value: Any) -> None:
        DavEntry.objects.update_or_create(key=self.prefix + key, defaults={"value": _encode(value)})
        self._forget()

    def __delitem__(self, key: str) -> None:
        deleted, _ = DavEntry.objects.filter(key=self.prefix + key).delete()
        self._forget()
        if not deleted:
            raise KeyError(key)

    @staticmethod
    def _forget() -> None:
        cache = _cache()
        if cache is not None:
            cache.clear()

    def __iter__(self) -> Iterator[str]:
        for key in DavEntry.objects.filter(key__prefix=self.prefix).values_list("key", flat=True):
            yield key[len(self.prefix) :]

    def __len__(self) -> int:
        return DavEntry.objects.filter(key__prefix=self.prefix).count()

    def __contains__(self, key: object) -> bool:
        try:
            self[str(key)]
        except KeyError:
            return False
        return True


class DatabaseLockStorage(LockStorageDict):
    def open(self) -> None:
        self._dict = DatabaseMapping("lock")

    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[Any]:
        """WsgiDAV's, with the locks below `path` found by their keys' prefix: its own
        read every lock of the platform, key by key, for each recursive check (a
        folder's DELETE, MOVE or COPY)."""
        found: list[Any] = []
        if include_root:
            found = super().get_lock_list(
                path, include_root=True, include_children=False, token_only=token_only
            )
        if not include_children:
            return found
        below = f"lock:{URL_KEY}{normalize_lock_root(path).rstrip('/')}/"
        # Each path's tokens read with its key (not looked up again, a query each).
        for tokens in DavEntry.objects.filter(key__prefix=below).values_list("value", flat=True):
            for token in _decode(tokens):
                lock = self.get(token)  # as WsgiDAV's: an expired lock is purged, not listed
                if lock:
                    found.append(lock["token"] if token_only else lock)
        return found

    def close(self) -> None:
        pass


class DatabasePropertyManager(PropertyManager):
    def _lazy_open(self) -> None:
        self._dict = DatabaseMapping("prop")
        self._loaded = True

    def move_properties(
        self, src_url: str, dest_url: str, with_children: bool, environ: Any = None
    ) -> None:
        """WsgiDAV's, reading only the keys at and below `src_url`: its own listed every
        dead property of the platform on each MOVE (a file's too) and moved them key by
        key. Here one indexed read (`key__prefix`) and the moves in one transaction; a
        key already at the destination is replaced, as WsgiDAV's assignment did."""
        source, target = src_url.rstrip("/"), dest_url.rstrip("/")
        self._lock.acquire_write()
        try:
            with transaction.atomic():
                for key in DavEntry.objects.filter(key__prefix="prop:" + source).values_list(
                    "key", flat=True
                ):
                    url = key[len("prop:") :]
                    inside = util.is_equal_or_child_uri(source, url)
                    if not inside or (not with_children and url.rstrip("/") != source):
                        continue
                    moved = "prop:" + target + url[len(source) :]
                    DavEntry.objects.filter(key=moved).delete()
                    DavEntry.objects.filter(key=key).update(key=moved)
        finally:
            self._lock.release()
        DatabaseMapping._forget()

    def _sync(self) -> None:
        pass

    def _close(self) -> None:
        pass
