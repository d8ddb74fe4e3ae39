"""A persistent bash inside the jail, for cells in LANGUAGE_BASH.

Each cell is written to a script and sourced by one long-lived shell, so the
working directory, variables and functions persist between cells, and a
syntax error cannot eat the status report. The shell writes fds 1 and 2 of
the kernel (the captured pipes) and reports each cell's exit status on a
private pipe. Its stdin is the kernel's command pipe; cells read /dev/null.

The shell is interactive (without prompts, history or job control) because
only an interactive bash abandons the whole command on SIGINT, as Ctrl-C at
a terminal does, and stays alive; a non-interactive one resumes the script
after its trap.
"""

from __future__ import annotations

import os
import select
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Any

SCRIPTS = "/tmp/.codeact"
# After SIGINT, how long the shell's commands get before they are killed.
GRACE = 0.5


class Shell:
    def __init__(self, cells: Any) -> None:
        # The Python runner, whose flags say when SIGINT may raise.
        self.cells = cells
        self.proc: subprocess.Popen[bytes] | None = None
        self.status_fd = -1
        self.buffer = b""
        self.note = ""

    def _start(self) -> None:
        import subprocess  # only bash cells need it: keep it off the start-up path

        os.makedirs(SCRIPTS, mode=0o700, exist_ok=True)
        read_end, write_end = os.pipe()
        stderr = os.dup(2)
        self.proc = subprocess.Popen(
            ["/bin/bash", "--noprofile", "--norc", "--noediting", "-i"],
            stdin=subprocess.PIPE,
            # Startup warnings ("no job control") go nowhere; the cells'
            # stderr is restored below.
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end, stderr),
            start_new_session=True,
            env={**os.environ, "PS1": "", "PS2": "", "PROMPT_COMMAND": ""},
        )
        os.close(write_end)
        os.close(stderr)
        os.set_inheritable(read_end, False)
        self.status_fd = read_end
        self.buffer = b""
        self._send(
            f"set +o history +H\nexec 3>&{write_end} {write_end}>&- 2>&{stderr} {stderr}>&-\n"
        )

    def _send(self, text: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def forget(self) -> None:
        """In a checkpoint copy: let go of the live kernel's shell without
        touching it (the copy starts its own shell if it is ever restored)."""
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.returncode = -1  # not ours to wait for
            self.proc = None
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1

    def _stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1

    def _read_status(self, timeout: float | None) -> int | None:
        """The next exit status, None on timeout; -1 when the shell is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.status_fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.status_fd, 64)
            if not chunk:
                return -1
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return int(line or b"-1")

    def run(self, number: int, code: str) -> tuple[str, int]:
        """Run a cell; return (status, exit code) with status 'ok', 'error' or
        'interrupted'. Raises nothing; self.note explains a lost shell."""
        self.note = ""
        if not self._alive():
            self._stop()
            self._start()
        assert self.proc is not None
        path = f"{SCRIPTS}/cell-{number}.sh"
        with open(path, "w") as script:
            script.write(code if code.endswith("\n") else code + "\n")
        try:
            # The cell's commands neither read the command pipe nor see fd 3.
            self._send(f'source {path} < /dev/null 3>&-\nprintf "%d\\n" "$?" >&3\n')
            self.cells.in_user_code = True
            if self.cells.pending_interrupt:
                raise KeyboardInterrupt
            status = self._read_status(None)
        except KeyboardInterrupt:
            self.cells.in_user_code = False
            return self._interrupt()
        except OSError:
            status = -1
        finally:
            self.cells.in_user_code = False
            try:
                os.unlink(path)
            except OSError:
                pass
        if status is None or status < 0:
            code_ = self.proc.wait() if self.proc is not None else -1
            self._stop()
            self.note = f"the shell exited (status {code_}); the next bash cell starts a new one"
            return "error", code_
        return ("ok" if status == 0 else "error"), status

    def _interrupt(self) -> tuple[str, int]:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        status = self._read_status(GRACE)
        if status is None or status < 0:
            self._stop()
            self.note = (
                "the command did not stop on SIGINT; "
                "the shell was killed (cwd and variables are reset)"
            )
            return "interrupted", 130
        return "interrupted", status
