"""A session's workspace: the one host directory its jail may write.

Each workspace is its own tmpfs, so its size is capped by the kernel, hard
links cannot reach any other file, and its pages are charged to the memory
cgroup of whoever writes them. It is owned by the session's outside uid and
outlives interpreter restarts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _mount_tmpfs(target: Path, options: str, remount: bool = False) -> None:
    flags = MS_NOSUID | MS_NODEV | (MS_REMOUNT if remount else 0)
    if _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", flags, options.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {target}: {os.strerror(err)}")


def _unmount(target: Path) -> None:
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


class Workspace:
    """The writable directory of one session."""

    def __init__(
        self, path: Path, uid: int, size_bytes: int, tmpfs: bool = True, max_files: int = 10_000
    ) -> None:
        self.path = path
        self.uid = uid
        self.size_bytes = size_bytes
        self.tmpfs = tmpfs
        # Files and directories the workspace may hold (tmpfs inodes).
        self.max_files = max_files

    def _options(self) -> str:
        return (
            f"size={self.size_bytes},nr_inodes={self.max_files},"
            f"mode=0700,uid={self.uid},gid={self.uid}"
        )

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=False, mode=0o700)
        if self.tmpfs:
            _mount_tmpfs(self.path, self._options())
        else:
            os.chown(self.path, self.uid, self.uid)

    def resize(self, size_bytes: int) -> None:
        """Change the size cap (never below what is already stored)."""
        self.size_bytes = size_bytes
        if self.tmpfs:
            _mount_tmpfs(self.path, self._options(), remount=True)

    def used_bytes(self) -> int:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def destroy(self) -> None:
        if self.tmpfs:
            _unmount(self.path)
        shutil.rmtree(self.path, ignore_errors=True)


def remove_stale(root: Path) -> None:
    """Unmount and remove the workspaces a crashed executor left under root."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        _unmount(entry)
        shutil.rmtree(entry, ignore_errors=True)
