"""edit_file: view, create, str_replace and insert on workspace files,
through the executor's file RPCs (so its path checks apply)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from codeact.errors import CodeActError
from codeact.v1 import events_pb2, executor_pb2

from .downstream import Deadline, Downstream

SNIPPET_CONTEXT = 4
VIEW_MAX_CHARS = 16_000
FILE_TIMEOUT = 60.0


def numbered(lines: list[str], start: int = 1) -> str:
    return "\n".join(f"{number:6}\t{line}" for number, line in enumerate(lines, start))


class EditError(Exception):
    """An edit the model asked for that cannot be done; the message says why."""


class Editor:
    def __init__(self, downstream: Downstream, session_id: str, deadline: Deadline) -> None:
        self.downstream = downstream
        self.session_id = session_id
        self.deadline = deadline

    async def apply(self, edit: events_pb2.FileEdit) -> tuple[str, bool]:
        """The observation text, and whether the edit failed."""
        try:
            return await self._apply(edit), False
        except EditError as exc:
            return f"edit_file failed: {exc}", True
        except CodeActError as exc:
            if exc.code in (
                "INVALID_ARGUMENT",
                "NOT_FOUND",
                "ALREADY_EXISTS",
                "RESOURCE_EXHAUSTED",
            ):
                return f"edit_file failed: {exc.message}", True
            raise

    async def _apply(self, edit: events_pb2.FileEdit) -> str:
        path = edit.path
        if edit.command == events_pb2.EDIT_COMMAND_CREATE:
            await self._write(path, edit.file_text, overwrite=False)
            return f"Created {path} ({len(edit.file_text.splitlines())} lines)."
        text = await self._read(path)
        lines = text.splitlines()
        if edit.command == events_pb2.EDIT_COMMAND_VIEW:
            shown = numbered(lines)
            if len(shown) > VIEW_MAX_CHARS:
                shown = shown[:VIEW_MAX_CHARS] + "\n[... the rest of the file is not shown ...]"
            return f"{path}:\n{shown}" if lines else f"{path} is empty."
        if edit.command == events_pb2.EDIT_COMMAND_STR_REPLACE:
            count = text.count(edit.old_str)
            if count == 0:
                raise EditError(f"old_str does not appear in {path}")
            if count > 1:
                raise EditError(f"old_str appears {count} times in {path}; include more context")
            start_line = text[: text.index(edit.old_str)].count("\n")
            text = text.replace(edit.old_str, edit.new_str, 1)
            await self._write(path, text, overwrite=True)
            return self._snippet(path, text, start_line, edit.new_str.count("\n") + 1)
        if edit.command == events_pb2.EDIT_COMMAND_INSERT:
            if edit.insert_line > len(lines):
                raise EditError(
                    f"insert_line {edit.insert_line} is past the end ({len(lines)} lines)"
                )
            new = edit.new_str.splitlines()
            lines[edit.insert_line : edit.insert_line] = new
            text = "\n".join(lines) + "\n"
            await self._write(path, text, overwrite=True)
            return self._snippet(path, text, edit.insert_line, len(new))
        raise EditError("unknown command")

    def _snippet(self, path: str, text: str, first: int, count: int) -> str:
        lines = text.splitlines()
        start = max(0, first - SNIPPET_CONTEXT)
        end = min(len(lines), first + count + SNIPPET_CONTEXT)
        return f"Edited {path}. Lines {start + 1}-{end} now read:\n" + numbered(
            lines[start:end], start + 1
        )

    async def _read(self, path: str) -> str:
        request = executor_pb2.DownloadFileRequest(session_id=self.session_id, path=path)
        chunks = [
            message.chunk
            async for message in self.downstream.stream(
                self.downstream.executor_for(self.session_id).DownloadFile,
                request,
                self.deadline,
                FILE_TIMEOUT,
            )
            if message.WhichOneof("part") == "chunk"
        ]
        try:
            return b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            raise EditError(f"{path} is not a UTF-8 text file") from None

    async def _write(self, path: str, text: str, overwrite: bool) -> None:
        header = executor_pb2.UploadFileHeader(
            session_id=self.session_id, path=path, mode=0o644, overwrite=overwrite
        )
        data = text.encode("utf-8")

        async def messages() -> AsyncIterator[executor_pb2.UploadFileRequest]:
            yield executor_pb2.UploadFileRequest(header=header)
            for offset in range(0, len(data), 1 << 20):
                yield executor_pb2.UploadFileRequest(chunk=data[offset : offset + (1 << 20)])

        await self.downstream.call(
            self.downstream.executor_for(self.session_id).UploadFile,
            messages(),
            self.deadline,
            FILE_TIMEOUT,
        )
