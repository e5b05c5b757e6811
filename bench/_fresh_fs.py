"""A new, empty ext4 file system for one side of a bench (a loop device over a sparse
image), so that both sides create their files in the same state.

Creating a file on ext4 costs more where many were deleted before (the inode allocator
walks the recently freed ones): a peer whose PUT is one file creation went from 1,728 to
5,204 PUT/s between runs of the same script on the same disk (docs/performance.md). On a
file system of its own, made for the run, each side starts where a new install starts.

Needs root, `losetup` and `mkfs.ext4`; elsewhere `fresh_file_system` yields a plain
temporary folder and says so (`kind`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

IMAGE_BYTES = int(os.environ.get("BENCH_FS_BYTES", str(2 << 30)))


@dataclass
class Place:
    path: str
    kind: str  # « ext4 neuf (loop) » or « dossier temporaire »


def _can_make_one() -> bool:
    return (
        os.environ.get("BENCH_FRESH_FS", "1") != "0"
        and os.geteuid() == 0
        and all(shutil.which(tool) for tool in ("losetup", "mkfs.ext4", "mount", "umount"))
    )


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603


@contextmanager
def fresh_file_system(label: str) -> Iterator[Place]:
    """A mounted, empty ext4 file system (or a temporary folder), removed on exit."""
    work = tempfile.mkdtemp(prefix=f"clocher-bench-fs-{label}-")
    if not _can_make_one():
        try:
            yield Place(work, "dossier temporaire")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    image, mount = f"{work}/image", f"{work}/mnt"
    os.mkdir(mount)
    with open(image, "wb") as sparse:
        sparse.truncate(IMAGE_BYTES)
    device = ""
    try:
        device = _run("losetup", "--find", "--show", image)
        _run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", device)
        _run("mount", device, mount)
        try:
            yield Place(mount, "ext4 neuf (loop)")
        finally:
            # Lazy: a file the bench still holds open (its database) must not leave the
            # file system mounted; it goes when the last one is closed.
            _run("umount", "--lazy", mount)
    finally:
        if device:
            _run("losetup", "--detach", device)
        shutil.rmtree(work, ignore_errors=True)
