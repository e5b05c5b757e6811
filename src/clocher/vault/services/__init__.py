"""Vault services: spaces, the file tree, uploads, versions, trash, quotas, fsck.

Every entry point takes the acting person and checks nothing about HTTP: the web pages,
the WebDAV provider and the CLI all come through here. One module per concern (the
package re-exports their public names, so callers write `services.save_file`):

- `names`: file and folder names, the vault's errors;
- `spaces`: the commune's, personal and group spaces, what a person reaches;
- `home`: a person's root (their personal space, the others as folders in it);
- `tree`: paths, folders, ETags;
- `quotas`: the space's and the commune's counters, usage;
- `content`: the chunks of a version (stored by `clocher.storage.chunks`), `VersionReader`;
- `files`: an upload made a file's version, new files in bulk;
- `moves`: moves and copies, across communes too;
- `trashcan`, `history`: the trash, versions;
- `checks`: fsck and garbage collection.

(`trashcan`, `history` and `checks` are not named `trash`, `versions` and `fsck`: the
package's attributes of those names are the functions.)

On PostgreSQL a change holds its row locks until it commits, and two changes that take
the same rows in other orders deadlock. Every change of the tree takes them in this
order: an upload session's row; the files it changes (their rows, in id order); the
folders whose ETags it renews, every chain concerned at once and in id order
(`tree._touch`, `tree._new_etags`), a folder that is itself changed among them; the
spaces' counters, then the commune's (`quotas._charge`); the audit journal last
(`core.audit`).
"""

from clocher.vault.services.checks import FsckReport, collect_garbage, fsck
from clocher.vault.services.content import (
    ATTACH_BATCH,
    VersionReader,
    iter_content,
    open_file,
)
from clocher.vault.services.files import (
    NewFile,
    save_each,
    save_file,
    save_new_files,
    save_together,
    set_modified,
    write_bytes,
)
from clocher.vault.services.history import restore_version, versions
from clocher.vault.services.home import check_top_name, home_space, place, top_folders
from clocher.vault.services.moves import copy, move
from clocher.vault.services.names import (
    BIDI_CONTROLS,
    WINDOWS_RESERVED,
    NameConflict,
    QuotaExceeded,
    clean_name,
)
from clocher.vault.services.quotas import Usage, available_bytes, hold, usage
from clocher.vault.services.spaces import (
    create_group_space,
    ensure_commune_space,
    ensure_personal_space,
    node_for,
    remove_group_space,
    rename_group_space,
    root_of,
    search,
    set_group_members,
    space_label,
    spaces_by_label,
    spaces_for,
)
from clocher.vault.services.trashcan import (
    free_name,
    purge,
    purge_expired_trash,
    restore,
    trash,
    trashed,
)
from clocher.vault.services.tree import (
    LOOKUP_MAX_DEPTH,
    ancestors,
    child,
    children,
    create_folder,
    is_inside,
    lock_chains,
    lookup,
    path_of,
    walk,
)

__all__ = [
    "ATTACH_BATCH",
    "BIDI_CONTROLS",
    "LOOKUP_MAX_DEPTH",
    "WINDOWS_RESERVED",
    "lock_chains",
    "FsckReport",
    "NameConflict",
    "NewFile",
    "save_each",
    "QuotaExceeded",
    "Usage",
    "VersionReader",
    "ancestors",
    "available_bytes",
    "check_top_name",
    "child",
    "children",
    "clean_name",
    "collect_garbage",
    "copy",
    "create_folder",
    "create_group_space",
    "ensure_commune_space",
    "ensure_personal_space",
    "free_name",
    "fsck",
    "hold",
    "home_space",
    "is_inside",
    "iter_content",
    "lookup",
    "move",
    "node_for",
    "open_file",
    "path_of",
    "place",
    "purge",
    "purge_expired_trash",
    "remove_group_space",
    "rename_group_space",
    "restore",
    "restore_version",
    "root_of",
    "save_file",
    "save_new_files",
    "save_together",
    "search",
    "set_group_members",
    "set_modified",
    "space_label",
    "spaces_by_label",
    "spaces_for",
    "top_folders",
    "trash",
    "trashed",
    "usage",
    "versions",
    "walk",
    "write_bytes",
]
