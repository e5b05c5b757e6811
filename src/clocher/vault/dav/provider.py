"""A WsgiDAV provider over the vault's services.

URLs follow Nextcloud's layout so that its desktop and mobile clients, and any WebDAV
client, use the same address: `/remote.php/dav/files/<login>/<space>/<path>`. The first
segment must be the authenticated person's login (anything else is 404: nobody browses
someone else's tree), the second is one of the spaces `services.spaces_for` gives them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError
from wsgidav import util
from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_CONFLICT,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_LOCKED,
    HTTP_PRECONDITION_FAILED,
    DAVError,
    DAVErrorCondition,
    PRECONDITION_CODE_LockConflict,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from clocher.accounts.models import User
from clocher.core.audit import Actor
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.models import Node, Space

OC = "{http://owncloud.org/ns}"
NC = "{http://nextcloud.org/ns}"
# Hrefs keep `@` (allowed in a path segment): the login in the path is an e-mail
# address, and clients compare hrefs with the URL they asked for.
HREF_SAFE = "/!*'(),$-_|.@"
OC_PROPS = [f"{OC}fileid", f"{OC}id", f"{OC}permissions", f"{OC}size", f"{NC}has-preview"]


def _actor(environ: dict[str, Any]) -> Actor:
    user: User = environ["clocher.user"]
    return Actor(user=user, label=user.email, ip=environ.get("REMOTE_ADDR", ""))


def _dav_error(exc: ValidationError) -> DAVError:
    message = " ".join(exc.messages)
    if isinstance(exc, services.QuotaExceeded):
        return DAVError(HTTP_INSUFFICIENT_STORAGE, message)
    if isinstance(exc, services.NameConflict):
        return DAVError(HTTP_PRECONDITION_FAILED, message)
    return DAVError(HTTP_FORBIDDEN, message)


def _spaces(environ: dict[str, Any]) -> dict[str, Space]:
    """The person's spaces by folder name, once per request."""
    if "clocher.spaces" not in environ:
        environ["clocher.spaces"] = services.spaces_by_label(
            environ["clocher.user"], environ.get("clocher.communes")
        )
    return environ["clocher.spaces"]


# The latest modification time a client may give a file: 30 December 9999, a day before
# Python's dates end (a page shows it in local time, up to a day later); a larger
# X-OC-Mtime was a 500.
LAST_MTIME = 253_402_214_399
MTIME_OUT_OF_RANGE = "X-OC-Mtime : date de modification au-delà de l'an 9999."


def client_mtime(header: str | None) -> datetime | None:
    """The file's own modification time a sync client sends (X-OC-Mtime, seconds), or
    None without one or when it is not a number (WsgiDAV refuses that with 400).
    ValueError past LAST_MTIME."""
    if not header or not header.isdigit():
        return None
    seconds = int(header)
    if seconds > LAST_MTIME:
        raise ValueError(MTIME_OUT_OF_RANGE)
    return datetime.fromtimestamp(seconds, tz=UTC)


def mtime_in_range(environ: dict[str, Any]) -> bool:
    """Whether the request's X-OC-Mtime, if a number, is at most LAST_MTIME: WsgiDAV sets
    it after a PUT, a MKCOL or a MOVE is done, too late to refuse it then."""
    header = environ.get("HTTP_X_OC_MTIME")
    return not header or not header.isdigit() or int(header) <= LAST_MTIME


def _client_mtime(environ: dict[str, Any]) -> datetime | None:
    """The request's X-OC-Mtime, kept in the same commit as the content; 400 when out
    of range."""
    try:
        return client_mtime(environ.get("HTTP_X_OC_MTIME"))
    except ValueError as exc:
        raise DAVError(HTTP_BAD_REQUEST, str(exc)) from exc


# Guessed types by the name's last two suffixes (`.tar.gz` is a tar): a listing of files
# stored without a type guessed each one through `mimetypes` (a tenth of a PROPFIND).
_MIME_BY_SUFFIX: dict[str, str] = {}


def mime_type(name: str) -> str:
    """The type WsgiDAV guesses for a file's name (its path: the same last segment)."""
    suffixes = ".".join(name.rpartition("/")[2].rsplit(".", 2)[1:])
    found = _MIME_BY_SUFFIX.get(suffixes)
    if found is None:
        if len(_MIME_BY_SUFFIX) >= 4096:
            _MIME_BY_SUFFIX.clear()
        found = _MIME_BY_SUFFIX[suffixes] = util.guess_mime_type(
            f"x.{suffixes}" if suffixes else "x"
        )
    return found


def _timestamp(value: Any) -> float:
    return value.timestamp() if value else time.time()


class _Href:
    """Hrefs keep `@` (see HREF_SAFE)."""

    def get_href(self) -> str:
        provider = self.provider  # type: ignore[attr-defined]
        path = provider.mount_path + provider.share_path + self.get_preferred_path()  # type: ignore[attr-defined]
        return quote(path, safe=HREF_SAFE)

    def get_ref_url(self) -> str:
        """Computed once per resource: WsgiDAV asks for it once per property."""
        cached: str | None = self.__dict__.get("_ref_url")
        if cached is None:
            cached = self.__dict__["_ref_url"] = super().get_ref_url()  # type: ignore[misc]
        return cached


class _NodeProps(_Href):
    """Nextcloud's properties, shared by files and folders."""

    node: Node
    path: str

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        names = super().get_property_names(is_allprop=is_allprop)  # type: ignore[misc]
        return [*names, *OC_PROPS]

    def get_property_value(self, name: str) -> Any:
        if name in (f"{OC}fileid", f"{OC}id"):
            return str(self.node.pk)
        if name == f"{OC}permissions":
            return "RGDNVCK" if self.node.is_folder else "RGDNVW"
        if name == f"{OC}size":
            return str(self.node.size)
        if name == f"{NC}has-preview":
            return "false"
        return super().get_property_value(name)  # type: ignore[misc]


class FolderResource(_NodeProps, DAVCollection):
    def __init__(self, path: str, environ: dict[str, Any], node: Node, label: str = "") -> None:
        super().__init__(path, environ)
        self.node = node
        self.label = label or node.name

    def get_display_name(self) -> str:
        return self.label

    def get_creation_date(self) -> float:
        return _timestamp(self.node.created_at)

    def get_last_modified(self) -> float:
        return _timestamp(self.node.modified_at)

    def get_etag(self) -> str:
        return self.node.etag

    def support_etag(self) -> bool:
        return True

    def get_used_bytes(self) -> int:
        return self.node.space.used_bytes

    def get_available_bytes(self) -> int | None:
        space = self.node.space
        limit = space.quota_bytes or space.commune.quota_storage_bytes
        return max(0, limit - space.used_bytes)

    def get_member_names(self) -> list[str]:
        return [n.name for n in services.children(self.node)]

    def get_member(self, name: str) -> Any:
        found = services.child(self.node, name)
        if found is None:
            return None
        return _resource(util.join_uri(self.path, name), self.environ, found)

    def get_member_list(self) -> list[Any]:
        return [
            _resource(util.join_uri(self.path, n.name), self.environ, n)
            for n in services.children(self.node)
        ]

    def create_empty_resource(self, name: str) -> Any:
        try:
            clean = services.clean_name(name)
        except ValidationError as exc:
            raise _dav_error(exc) from exc
        if self.environ.get("REQUEST_METHOD") == "PUT":
            # The content is on its way: nothing is visible before it is all stored.
            return FileResource(
                util.join_uri(self.path, clean), self.environ, None, self.node, clean
            )
        try:  # LOCK on an unmapped URL makes an empty file (RFC 4918 §7.3)
            node = services.write_bytes(_actor(self.environ), self.node, clean, b"")
        except ValidationError as exc:
            raise _dav_error(exc) from exc
        return FileResource(util.join_uri(self.path, clean), self.environ, node)

    def create_collection(self, name: str) -> None:
        try:
            services.create_folder(_actor(self.environ), self.node, name)
        except ValidationError as exc:
            raise _dav_error(exc) from exc

    def support_recursive_delete(self) -> bool:
        return True

    def delete(self) -> None:
        _delete(self)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        _copy_single(self, dest_path)

    def support_recursive_move(self, dest_path: str) -> bool:
        return True

    def move_recursive(self, dest_path: str) -> None:
        _move(self, dest_path)


class HomeRoot(FolderResource):
    """`/<login>/`: the person's home, their own space as in Nextcloud (files and folders
    made here go into it), with their other spaces as folders beside its content (see
    `services.home`: a space's name wins, and is refused for a new item here)."""

    def _folders(self) -> dict[str, Space]:
        return services.top_folders(_spaces(self.environ))

    def get_display_name(self) -> str:
        return self.name

    def get_member_names(self) -> list[str]:
        folders = self._folders()
        return [*folders, *(n for n in super().get_member_names() if n not in folders)]

    def get_member(self, name: str) -> Any:
        space = _spaces(self.environ).get(name)  # the home's own name leads to it too
        if space is not None:
            return FolderResource(
                util.join_uri(self.path, name), self.environ, services.root_of(space), name
            )
        return super().get_member(name)

    def get_member_list(self) -> list[Any]:
        folders = self._folders()
        spaces = [
            FolderResource(
                util.join_uri(self.path, label), self.environ, services.root_of(s), label
            )
            for label, s in folders.items()
        ]
        return [*spaces, *(r for r in super().get_member_list() if r.name not in folders)]

    def get_etag(self) -> str:
        """Changes with anything in any of the person's spaces: sync clients compare the
        root's ETag to know something moved."""
        others = [services.root_of(space).etag for space in self._folders().values()]
        return "-".join([self.node.etag, *others])

    def _top_name(self, name: str) -> str:
        try:
            return services.check_top_name(_spaces(self.environ), name)
        except ValidationError as exc:
            raise _dav_error(exc) from exc

    def create_empty_resource(self, name: str) -> Any:
        return super().create_empty_resource(self._top_name(name))

    def create_collection(self, name: str) -> None:
        super().create_collection(self._top_name(name))

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, "La racine ne se supprime pas.")

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        raise DAVError(HTTP_FORBIDDEN, "La racine ne se copie ni ne se déplace.")

    def move_recursive(self, dest_path: str) -> None:
        raise DAVError(HTTP_FORBIDDEN, "La racine ne se copie ni ne se déplace.")


class FileResource(_NodeProps, DAVNonCollection):
    def __init__(
        self,
        path: str,
        environ: dict[str, Any],
        node: Node | None,
        pending_parent: Node | None = None,
        pending_name: str = "",
    ) -> None:
        super().__init__(path, environ)
        self.node = node  # type: ignore[assignment]
        self.pending_parent = pending_parent
        self.pending_name = pending_name
        self.upload: ChunkWriter | None = None

    def get_content_length(self) -> int:
        return self.node.size if self.node else 0

    def get_content_type(self) -> str:
        if self.node and self.node.content_type:
            return self.node.content_type
        return mime_type(self.path)

    def get_creation_date(self) -> float:
        return _timestamp(self.node.created_at if self.node else None)

    def get_last_modified(self) -> float:
        return _timestamp(self.node.modified_at if self.node else None)

    def get_display_name(self) -> str:
        return self.node.name if self.node else self.pending_name

    def get_etag(self) -> str | None:
        return self.node.etag if self.node else None

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> Any:
        return services.open_file(self.node)

    def begin_write(self, *, content_type: str | None = None) -> Any:
        parent = self.pending_parent or self.node.parent
        self.upload = ChunkWriter(parent.space.commune)  # type: ignore[union-attr]
        self._content_type = content_type or ""
        return _Sink(self.upload)

    def end_write(self, *, with_errors: bool) -> None:
        if with_errors or self.upload is None:
            if self.upload is not None:
                self.upload.discard()
            return  # nothing committed: the chunks already stored are collected later
        parent = self.pending_parent or self.node.parent
        name = self.pending_name or self.node.name
        assert parent is not None  # a file always has a folder
        mtime = _client_mtime(self.environ)
        try:
            self.node = services.save_file(
                _actor(self.environ),
                parent,
                name,
                self.upload,
                self._content_type,
                modified_at=mtime,
            )
        except ValidationError as exc:
            raise _dav_error(exc) from exc
        self.environ["clocher.written"] = self.node
        if mtime is not None:
            self.environ["clocher.mtime_accepted"] = True

    def set_last_modified(self, dest_path: str, time_stamp: int, *, dry_run: bool) -> bool:
        """Sync clients send their file's own time (X-OC-Mtime) so both sides agree
        (after a PUT, WsgiDAV calls this for the time already saved with the content)."""
        if not dry_run and self.node is not None and not self.environ.get("clocher.mtime_accepted"):
            services.set_modified(self.node, time_stamp)
            self.environ["clocher.mtime_accepted"] = True
        return True

    def delete(self) -> None:
        _delete(self)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        if is_move:
            _move(self, dest_path)
        else:
            _copy_single(self, dest_path)

    def support_recursive_move(self, dest_path: str) -> bool:
        return True

    def move_recursive(self, dest_path: str) -> None:
        _move(self, dest_path)


class _Sink:
    """What WsgiDAV writes the request body into."""

    def __init__(self, upload: ChunkWriter) -> None:
        self.upload = upload

    def write(self, data: bytes) -> int:
        return self.upload.write(data)

    def close(self) -> None:
        pass


def _resource(path: str, environ: dict[str, Any], node: Node) -> Any:
    if node.is_folder:
        return FolderResource(path, environ, node)
    return FileResource(path, environ, node)


def _destination(resource: Any, dest_path: str) -> tuple[Node, str]:
    """The folder and name a Destination header points to (same person's tree only;
    WsgiDAV has already unquoted it and made it relative to the share)."""
    parent_path, _, name = dest_path.rstrip("/").rpartition("/")
    parent = resource.provider.get_resource_inst(parent_path or "/", resource.environ)
    if not isinstance(parent, FolderResource):
        raise DAVError(HTTP_CONFLICT, "Le dossier de destination n'existe pas.")
    if isinstance(parent, HomeRoot):
        name = parent._top_name(name)
    return parent.node, name


def _ref_url(resource: Any, path: str) -> str:
    return quote(resource.provider.share_path + path)


def _delete(resource: Any) -> None:
    if resource.is_collection:
        _check_tree_unlocked(resource)
    try:
        services.trash(_actor(resource.environ), resource.node)
    except ValidationError as exc:
        raise _dav_error(exc) from exc
    resource.remove_all_properties(recursive=True)
    resource.remove_all_locks(recursive=True)


def _check_tree_unlocked(resource: Any) -> None:
    """423 unless every lock in the folder's tree is held by this request (its If
    tokens). WsgiDAV checks each member when one is locked, then deletes the members
    one by one and skips the folder of a refused one, but by a path that never matches
    a folder's (`util.get_uri_parent` ends with a slash): the folder went to the trash,
    locked file and all, under a 207 that reported the file's 423."""
    lock_manager = resource.provider.lock_manager
    if lock_manager is None:
        return
    environ = resource.environ
    if "wsgidav.conditions.if" not in environ:
        util.parse_if_header_dict(environ)
    url, tokens = resource.get_ref_url(), environ["wsgidav.ifLockTokenList"]
    principal = environ.get("wsgidav.user_name")
    # The folder and its parents as WsgiDAV checks them; its members here, since
    # WsgiDAV's depth infinity refuses a locked member even to its token's holder.
    lock_manager.check_write_permission(url=url, depth="0", token_list=tokens, principal=principal)
    conflict = DAVErrorCondition(PRECONDITION_CODE_LockConflict)
    for lock in lock_manager.storage.get_lock_list(
        url, include_root=False, include_children=True, token_only=False
    ):
        if lock["principal"] != principal or lock["token"] not in tokens:
            conflict.add_href(lock["root"])
    if conflict.hrefs:
        raise DAVError(HTTP_LOCKED, err_condition=conflict)


def _move(resource: Any, dest_path: str) -> None:
    parent, name = _destination(resource, dest_path)
    try:
        services.move(_actor(resource.environ), resource.node, parent, name, overwrite=True)
    except ValidationError as exc:
        raise _dav_error(exc) from exc
    prop_manager = resource.provider.prop_manager
    if prop_manager:
        prop_manager.move_properties(
            resource.get_ref_url(), _ref_url(resource, dest_path), with_children=True
        )


def _copy_single(resource: Any, dest_path: str) -> None:
    environ = resource.environ
    copied = environ.get("clocher.copied_tree")
    if copied is not None and util.is_child_uri(copied, resource.path):
        return  # copied with its folder, in one go (below)
    parent, name = _destination(resource, dest_path)
    actor = _actor(environ)
    node = resource.node
    try:
        if (
            node.is_folder
            and environ.get("HTTP_DEPTH", "infinity") == "infinity"
            and parent.space.commune_id != node.space.commune_id
        ):
            # Into another commune, a folder is copied whole by the services (content
            # re-encrypted, quota checked once for all): WsgiDAV's member-by-member
            # walk would leave half a copy when the quota is short.
            services.copy(actor, node, parent, name, overwrite=True)
            environ["clocher.copied_tree"] = resource.path
        elif node.is_folder:
            if services.child(parent, name) is None:
                services.create_folder(actor, parent, name)
        else:
            services.copy(actor, node, parent, name, overwrite=True)
    except ValidationError as exc:
        raise _dav_error(exc) from exc
    prop_manager = resource.provider.prop_manager
    if prop_manager:
        prop_manager.copy_properties(resource.get_ref_url(), _ref_url(resource, dest_path))


class VaultProvider(DAVProvider):
    def __init__(self) -> None:
        super().__init__()

    def __repr__(self) -> str:
        return "VaultProvider"

    def is_readonly(self) -> bool:
        return False

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        user: User | None = environ.get("clocher.user")
        if user is None:
            return None
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts or parts[0].lower() != user.email.lower():
            return None
        remembered = environ.pop("clocher.put_folder", None)
        if remembered is not None and remembered.path == "/" + "/".join(parts):
            return remembered
        placed = services.place(_spaces(environ), parts[1:])
        if placed is None:
            return None
        space, names = placed
        if len(parts) == 1:
            return HomeRoot("/" + parts[0], environ, services.root_of(space))
        if not names:  # a space's folder at the top
            return FolderResource("/" + "/".join(parts), environ, services.root_of(space), parts[1])
        # One query for the path (services.lookup); the folder only when the target
        # is not there (a new file, a 404).
        node = services.lookup(space, names)
        parent = node.parent if node is not None else services.lookup(space, names[:-1])
        if parent is None or not parent.is_folder:
            return None
        in_home = len(names) == len(parts) - 1
        if environ.get("REQUEST_METHOD") == "PUT" and not (in_home and len(names) == 1):
            # WsgiDAV's PUT asks for the target, then for its folder, and writes only
            # after both: the folder just looked up is that answer, once (not for the
            # person's root, which has its own rule for names).
            label = parts[1] if len(names) == 1 else ""
            environ["clocher.put_folder"] = FolderResource(
                "/" + "/".join(parts[:-1]), environ, parent, label
            )
        return None if node is None else _resource("/" + "/".join(parts), environ, node)
