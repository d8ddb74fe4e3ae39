"""Files in and out of the workspace, and the tricks that must not work."""

from __future__ import annotations

import os

import grpc
import pytest

from codeact import Client
from codeact.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from codeact.status import from_rpc_error
from codeact.v1 import executor_pb2


def test_upload_download_round_trip_and_ownership(acme: Client) -> None:
    payload = os.urandom(3 << 20) + b"\x00tail"  # several chunks, NULs included
    with acme.session() as s:
        info = s.upload("data/in/blob.bin", payload, mode=0o640)
        assert info.path == "data/in/blob.bin" and info.size_bytes == len(payload)
        assert info.mode == 0o640
        r = s.run(
            "import os, hashlib\n"
            "st = os.stat('/workspace/data/in/blob.bin')\n"
            "(st.st_uid, oct(st.st_mode & 0o777), "
            "hashlib.sha256(open('/workspace/data/in/blob.bin', 'rb').read()).hexdigest())"
        )
        import hashlib

        assert r.result is not None
        assert r.result.plain == repr((1000, "0o640", hashlib.sha256(payload).hexdigest()))
        s.run("open('/workspace/data/out.txt', 'w').write('made inside')")
        assert s.download("data/out.txt") == b"made inside"
        assert s.download("./data//in/blob.bin") == payload


def test_listing_shows_symlinks_without_following_them(acme: Client) -> None:
    with acme.session() as s:
        s.run(
            "import os\nos.makedirs('/workspace/a/b')\n"
            "open('/workspace/a/b/f.txt', 'w').write('x')\n"
            "os.symlink('/etc', '/workspace/a/etc-link')"
        )
        top = {f.path: f for f in s.files()}
        assert top["a"].is_dir
        deep = {f.path: f for f in s.files("a", recursive=True)}
        assert set(deep) == {"a/b", "a/b/f.txt", "a/etc-link"}
        assert deep["a/etc-link"].is_symlink and not deep["a/etc-link"].is_dir
        assert deep["a/b/f.txt"].size_bytes == 1


def test_overwrite_is_explicit(acme: Client) -> None:
    with acme.session() as s:
        s.upload("f.txt", b"one")
        with pytest.raises(AlreadyExists) as caught:
            s.upload("f.txt", b"two")
        assert caught.value.reason == "FILE_EXISTS"
        s.upload("f.txt", b"two", overwrite=True)
        assert s.download("f.txt") == b"two"
        s.run("import os\nos.mkdir('/workspace/dir')")
        with pytest.raises(InvalidArgument) as refused:
            s.upload("dir", b"x", overwrite=True)
        assert refused.value.reason == "IS_A_DIRECTORY"


@pytest.mark.parametrize(
    "path", ["../escape", "/etc/passwd", "a/../../b", "a/\x00b", "", "x" * 300, "./"]
)
def test_bad_paths_are_invalid_arguments(acme: Client, path: str) -> None:
    with acme.session() as s:
        for action in (lambda: s.upload(path, b"x"), lambda: s.download(path)):
            with pytest.raises(InvalidArgument) as caught:
                action()
            assert caught.value.field_violations[0].field == "path"
    assert not os.path.exists("/escape")


def test_symlinks_pointing_out_are_never_followed(acme: Client) -> None:
    with open("/etc/passwd", "rb") as f:
        host_passwd = f.read()
    with acme.session() as s:
        s.run(
            "import os\n"
            "os.symlink('/etc/passwd', '/workspace/leaf')\n"
            "os.symlink('/', '/workspace/root')"
        )
        with pytest.raises(InvalidArgument) as caught:
            s.download("leaf")
        assert caught.value.reason == "SYMLINK_REFUSED"
        with pytest.raises(InvalidArgument):
            s.download("root/etc/shadow")
        with pytest.raises(InvalidArgument):
            s.upload("root/tmp/codeact-escaped", b"x")
        assert not os.path.exists("/tmp/codeact-escaped")
        with pytest.raises(InvalidArgument):
            s.files("root")
        # Overwriting the link replaces the link itself, not its target.
        s.upload("leaf", b"replaced", overwrite=True)
        assert s.download("leaf") == b"replaced"
    with open("/etc/passwd", "rb") as f:
        assert f.read() == host_passwd


def test_fifos_and_other_special_files_are_refused_without_blocking(acme: Client) -> None:
    with acme.session() as s:
        s.run("import os\nos.mkfifo('/workspace/pipe')")
        with pytest.raises(InvalidArgument) as caught:
            s.download("pipe")
        assert caught.value.reason == "NOT_A_FILE"
        with pytest.raises(InvalidArgument):
            s.download("")


def test_sparse_files(acme: Client) -> None:
    with acme.session() as s:
        s.run(
            "with open('/workspace/small.sparse', 'wb') as f:\n    f.truncate(1 << 20)\n"
            "with open('/workspace/huge.sparse', 'wb') as f:\n    f.truncate(60 << 20)"
        )
        assert s.download("small.sparse") == b"\x00" * (1 << 20)
        with pytest.raises(ResourceExhausted) as caught:
            s.download("huge.sparse")
        assert caught.value.reason == "FILE_TOO_LARGE"


def test_size_caps_leave_no_partial_file(acme: Client) -> None:
    with acme.session(limits={"workspace_bytes": 32 << 20}) as s:
        with pytest.raises(ResourceExhausted) as caught:
            s.upload("too-big.bin", b"x" * (9 << 20))  # over the 8 MiB file limit
        assert caught.value.reason == "FILE_TOO_LARGE"
        assert s.files() == []  # no temporary left behind
    with acme.session(limits={"workspace_bytes": 4 << 20}) as s:
        with pytest.raises(ResourceExhausted) as caught:
            s.upload("fills.bin", b"x" * (6 << 20))  # under the file limit, over the workspace
        assert caught.value.reason == "WORKSPACE_FULL"
        assert s.files() == []
        r = s.run("open('/workspace/inside.bin', 'wb').write(b'x' * (6 << 20))")
        # RLIMIT_FSIZE (the workspace size) or the tmpfs itself stops it.
        assert r.error is not None
        assert "No space left" in r.error.evalue or "File too large" in r.error.evalue


def test_the_workspace_caps_the_number_of_files(acme: Client) -> None:
    with acme.session() as s:
        r = s.run(
            "import os\nn = 0\ntry:\n    while n < 5000:\n"
            "        open(f'/workspace/f{n}', 'w').close()\n        n += 1\n"
            "except OSError as e:\n    err = e.strerror\n(n < 2000, err)"
        )
        assert r.result is not None and r.result.plain == "(True, 'No space left on device')"


def test_upload_protocol_errors(acme: Client) -> None:
    with acme.session() as s:
        stub, meta = acme.executor.stub, acme.settings.metadata()
        header = executor_pb2.UploadFileRequest(
            header=executor_pb2.UploadFileHeader(session_id=s.id, path="x")
        )
        chunk = executor_pb2.UploadFileRequest(chunk=b"data")
        for messages in ([chunk], [], [header, chunk, header]):
            with pytest.raises(grpc.RpcError) as caught:
                stub.UploadFile(iter(messages), metadata=meta, timeout=10)
            err = from_rpc_error(caught.value)
            assert err.code == "INVALID_ARGUMENT" and err.field_violations[0].field == "header"


def test_another_tenant_cannot_touch_files(acme: Client, globex: Client) -> None:
    with acme.session() as s:
        s.upload("secret.txt", b"acme only")
        other = globex.executor
        with pytest.raises(NotFound):
            other.call(other.stub.ListFiles, executor_pb2.ListFilesRequest(session_id=s.id))
        with pytest.raises(grpc.RpcError) as caught:
            list(
                other.stub.DownloadFile(
                    executor_pb2.DownloadFileRequest(session_id=s.id, path="secret.txt"),
                    metadata=globex.settings.metadata(),
                )
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(NotFound):
        s.download("secret.txt")  # the session is gone
