"""A local artifact store's and the download cache's files: written whole, held while in
use, and kept in folders only this user may write to.

A file is written under a temporary name, flushed, and renamed into place, and the
folders naming it are flushed too (:func:`write_whole`). A temporary file in use (a
registration's staged model, a download in progress) is *held*: a shared ``flock`` on
a descriptor of it, which :func:`remove_unheld` respects, so that ``gc`` and the sweep
of a cache remove only what a killed process left.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import stat
import sys
import tempfile
import uuid

from satchel.errors import StoreError

if sys.platform != "win32":
    import fcntl


def held(path: str, flags: int = 0) -> int | None:
    """A descriptor of the file at ``path`` (opened with ``flags``, such as ``os.O_CREAT``)
    that keeps :func:`remove_unheld` from removing it until it is closed, or the process
    ends (None where files cannot be locked so)."""
    if sys.platform == "win32":
        return None
    descriptor = os.open(path, os.O_RDONLY | flags, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_SH)
    return descriptor


def remove_unheld(path: str) -> None:
    """Remove a temporary file (a registration's in the staging folder, a download's in the
    cache) unless a live one holds it (:func:`held`); one killed holds nothing."""
    if sys.platform == "win32":  # no lock to tell a live registration's file: kept
        return
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    except BlockingIOError:
        pass
    finally:
        os.close(descriptor)


def default_cache() -> str:
    """This user's cache folder in the temporary folder: one shared by every user (as
    ``satchel-cache`` was) lets any of them plant the files the others load."""
    user = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    return os.path.join(tempfile.gettempdir(), f"satchel-cache-{user}")


def private_folder(path: str) -> str:
    """``path``, created for this user alone if it is missing, once it is known that no one
    else can write to it.

    A cached copy is trusted as the artifact it is named after (a load checks its bytes
    against the checksums its own header declares, not its cryptographic digest), so a
    folder that another user can write to would let them choose the model served.

    Raises:
        StoreError: the folder belongs to another user, or others may write to it.
    """
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.stat(path)
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        raise StoreError(
            f"the artifact cache {path!r} is not private (owner uid {info.st_uid}, mode"
            f" {stat.S_IMODE(info.st_mode):o}): expected a folder of this user's (uid"
            f" {os.getuid()}) that no one else may write to, since a file put there is loaded"
            f" as the artifact it is named after. Pass cache= a private folder (a new folder"
            f" inside this one will do), or make this one private (chown, chmod 700)")
    return path


def write_whole(local_file: str, target: str, staged: bool = False) -> None:
    """Copy ``local_file`` to ``target`` through a flushed temporary file and a rename.

    A file a registration saved in the store's staging folder (``staged``), which nothing
    else holds or writes, is linked there instead of copied: a model of gigabytes is then
    written once, and needs its size free once.
    """
    os.makedirs(os.path.dirname(target), exist_ok=True)
    temporary = f"{target}.{uuid.uuid4().hex}.tmp"
    try:
        if not (staged and _linked(local_file, temporary)):
            with open(local_file, "rb") as source, open(temporary, "wb") as destination:
                shutil.copyfileobj(source, destination, 1 << 20)
                destination.flush()
                os.fsync(destination.fileno())
        os.replace(temporary, target)
        # The new name, and the name of a folder made for it, reach the disk before the
        # version that needs them is committed.
        folder = os.path.dirname(target)
        for entries in (folder, os.path.dirname(folder)):
            _flush_folder(entries)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _linked(local_file: str, temporary: str) -> bool:
    """Give ``local_file`` the name ``temporary`` too, its bytes flushed to disk; False
    where the filesystem has no hard links."""
    try:
        os.link(local_file, temporary)
    except OSError:
        return False
    with open(temporary, "r+b") as handle:
        os.fsync(handle.fileno())
    return True


def _flush_folder(folder: str) -> None:
    """Flush ``folder``'s entries to disk, where a folder can be opened to do so."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
