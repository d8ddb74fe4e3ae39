"""Files in and out of a session's workspace, done by the executor itself.

The workspace is writable by code in the jail, so every path is walked one
component at a time from a descriptor of the workspace root with O_NOFOLLOW:
a symlink anywhere on the way (even one swapped in while we walk) fails the
operation instead of leading outside. Only regular files are read (FIFOs
and devices are refused without blocking); uploads land under a temporary
name and are renamed into place, owned by the session's uid.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from codeact.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted, invalid

from .workspace import Workspace

MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255
CHUNK_BYTES = 256 * 1024
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class FileEntry:
    path: str
    size_bytes: int
    is_dir: bool
    is_symlink: bool
    modify_time: float
    mode: int


def parse_path(path: str, allow_root: bool = False) -> list[str]:
    """The components of a workspace-relative path, or INVALID_ARGUMENT."""
    if "\x00" in path:
        raise invalid("path", "must not contain NUL bytes", "INVALID_PATH")
    if len(path) > MAX_PATH_CHARS:
        raise invalid("path", f"is longer than {MAX_PATH_CHARS} characters", "INVALID_PATH")
    if path.startswith("/"):
        raise invalid("path", "must be relative to the workspace, not absolute", "INVALID_PATH")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise invalid("path", "must not contain '..'", "INVALID_PATH")
    if any(len(p.encode()) > MAX_NAME_CHARS for p in parts):
        raise invalid("path", f"has a name longer than {MAX_NAME_CHARS} bytes", "INVALID_PATH")
    if not parts and not allow_root:
        raise invalid("path", "names no file", "INVALID_PATH")
    return parts


def _entry(relative: str, st: os.stat_result) -> FileEntry:
    return FileEntry(
        path=relative,
        size_bytes=st.st_size,
        is_dir=stat.S_ISDIR(st.st_mode),
        is_symlink=stat.S_ISLNK(st.st_mode),
        modify_time=st.st_mtime,
        mode=stat.S_IMODE(st.st_mode),
    )


def _refused(path: str, exc: OSError) -> Exception:
    if exc.errno == errno.ENOENT:
        return NotFound("FILE_NOT_FOUND", f"{path!r} does not exist", metadata={"path": path})
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return invalid("path", f"{path!r} goes through a symbolic link", "SYMLINK_REFUSED")
    if exc.errno == errno.ENOTDIR:
        return invalid("path", f"a parent of {path!r} is not a directory", "INVALID_PATH")
    if exc.errno == errno.EISDIR:
        return invalid("path", f"{path!r} is a directory", "IS_A_DIRECTORY")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ResourceExhausted("WORKSPACE_FULL", "the workspace is full", metadata={"path": path})
    return InvalidArgument("FILE_ERROR", f"{path!r}: {os.strerror(exc.errno or 0)}")


class WorkspaceFiles:
    """Upload, download and list, confined to one workspace."""

    def __init__(
        self, workspace: Workspace, max_file_bytes: int, max_entries: int = 10_000
    ) -> None:
        self.workspace = workspace
        self.max_file_bytes = max_file_bytes
        self.max_entries = max_entries

    def _walk(self, parts: list[str], create: bool) -> int:
        """A descriptor of the directory parts name (created if asked)."""
        fd = os.open(self.workspace.path, DIR_FLAGS)
        try:
            for part in parts:
                try:
                    child = os.open(part, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    os.chown(
                        part,
                        self.workspace.uid,
                        self.workspace.uid,
                        dir_fd=fd,
                        follow_symlinks=False,
                    )
                    child = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    async def upload(
        self, path: str, chunks: AsyncIterator[bytes], mode: int = 0o644, overwrite: bool = False
    ) -> FileEntry:
        parts = parse_path(path)
        relative = "/".join(parts)
        try:
            directory = self._walk(parts[:-1], create=True)
        except OSError as exc:
            raise _refused(relative, exc) from None
        name = parts[-1]
        temporary = f".codeact-upload-{secrets.token_hex(6)}"
        fd = -1
        try:
            try:
                existing = os.stat(name, dir_fd=directory, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                if stat.S_ISDIR(existing.st_mode):
                    raise invalid("path", f"{relative!r} is a directory", "IS_A_DIRECTORY")
                if not overwrite:
                    raise AlreadyExists(
                        "FILE_EXISTS",
                        f"{relative!r} exists; set overwrite to replace it",
                        metadata={"path": relative},
                    )
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(temporary, flags, 0o600, dir_fd=directory)
            written = 0
            async for chunk in chunks:
                written += len(chunk)
                if written > self.max_file_bytes:
                    raise ResourceExhausted(
                        "FILE_TOO_LARGE",
                        f"the upload exceeds the {self.max_file_bytes}-byte file limit",
                        metadata={"path": relative, "limit": self.max_file_bytes},
                    )
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fchown(fd, self.workspace.uid, self.workspace.uid)
            os.fchmod(fd, (mode or 0o644) & 0o777)
            st = os.fstat(fd)
            os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
            temporary = ""
            return _entry(relative, st)
        except OSError as exc:
            raise _refused(relative, exc) from None
        finally:
            if fd >= 0:
                os.close(fd)
            if temporary:
                try:
                    os.unlink(temporary, dir_fd=directory)
                except OSError:
                    pass
            os.close(directory)

    def download(self, path: str) -> tuple[FileEntry, Iterator[bytes]]:
        """The file's entry and its content in chunks (opened before returning)."""
        parts = parse_path(path)
        relative = "/".join(parts)
        try:
            directory = self._walk(parts[:-1], create=False)
            try:
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                fd = os.open(parts[-1], flags, dir_fd=directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise _refused(relative, exc) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise invalid("path", f"{relative!r} is not a regular file", "NOT_A_FILE")
        if st.st_size > self.max_file_bytes:
            os.close(fd)
            raise ResourceExhausted(
                "FILE_TOO_LARGE",
                f"{relative!r} is {st.st_size} bytes; the download limit is {self.max_file_bytes}",
                metadata={"path": relative, "limit": self.max_file_bytes},
            )

        def chunks() -> Iterator[bytes]:
            # At most the size seen at open: a file that grows meanwhile is cut there.
            remaining = st.st_size
            try:
                while remaining > 0:
                    data = os.read(fd, min(CHUNK_BYTES, remaining))
                    if not data:
                        return
                    remaining -= len(data)
                    yield data
            finally:
                os.close(fd)

        return _entry(relative, st), chunks()

    def listing(self, path: str = "", recursive: bool = False) -> tuple[list[FileEntry], bool]:
        """Entries under a directory (symlinks listed, not followed); True if cut short."""
        parts = parse_path(path, allow_root=True)
        try:
            fd = self._walk(parts, create=False)
        except OSError as exc:
            raise _refused("/".join(parts) or ".", exc) from None
        entries: list[FileEntry] = []
        pending = [(fd, "/".join(parts))]
        truncated = False
        try:
            while pending:
                directory, prefix = pending.pop()
                try:
                    with os.scandir(directory) as it:
                        for item in sorted(it, key=lambda e: e.name):
                            if len(entries) >= self.max_entries:
                                truncated = True
                                break
                            relative = f"{prefix}/{item.name}" if prefix else item.name
                            entry = _entry(relative, item.stat(follow_symlinks=False))
                            entries.append(entry)
                            if recursive and entry.is_dir:
                                try:
                                    pending.append(
                                        (os.open(item.name, DIR_FLAGS, dir_fd=directory), relative)
                                    )
                                except OSError:
                                    pass  # replaced meanwhile by something else: skip
                finally:
                    os.close(directory)
        finally:
            for directory, _ in pending:
                os.close(directory)
        return entries, truncated
