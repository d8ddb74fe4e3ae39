"""SIGKILL the memory server during a stream of appends, restart it: every
acknowledged event is there, none is duplicated (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from bench.common import ROOT, free_port
from codeact import Client, events
from codeact.errors import CodeActError

KEY = "durable-key"
WRITERS = 4


@contextmanager
def memory_process(dsn: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "CODEACT_API_KEYS": f"acme:{KEY}",
        "CODEACT_LOG_LEVEL": "warning",
        "CODEACT_MEMORY_DSN": dsn,
        "CODEACT_MEMORY_METRICS_PORT": "-1",
        "CODEACT_MEMORY_PLANNER_TARGET": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.memory", "--port", str(port)], env=env, cwd=ROOT
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_acknowledged_appends_survive_sigkill(dsn: str) -> None:
    port = free_port()
    acked: list[list[str]] = [[] for _ in range(WRITERS)]
    in_flight: list[str | None] = [None] * WRITERS
    enough = threading.Event()

    def writer(index: int, conversation_id: str, address: str) -> None:
        with Client(address, token=KEY, timeout=5) as client:
            for i in range(100_000):
                key = f"w{index}-{i}"
                in_flight[index] = key
                try:
                    client.memory.append(conversation_id, events.thought(f"step {i}", key=key))
                except CodeActError:
                    return  # the server died under this call: it may or may not be stored
                acked[index].append(key)
                in_flight[index] = None
                if sum(map(len, acked)) >= 300:
                    enough.set()

    with memory_process(dsn, port) as proc:
        address = f"127.0.0.1:{port}"
        with Client(address, token=KEY) as client:
            conversation_id = client.memory.create_conversation().id
        threads = [
            threading.Thread(target=writer, args=(i, conversation_id, address))
            for i in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        assert enough.wait(60), "the writers did not get going"
        proc.send_signal(signal.SIGKILL)
        for thread in threads:
            thread.join(30)
        assert not any(t.is_alive() for t in threads)

    with memory_process(dsn, port), Client(f"127.0.0.1:{port}", token=KEY) as client:
        # The calls cut short are retried with their keys, as a client would.
        retried = [key for key in in_flight if key is not None]
        for key in retried:
            step = key.split("-")[1]
            client.memory.append(conversation_id, events.thought(f"step {step}", key=key))
        # A replay of acknowledged appends adds nothing either.
        replayed = client.memory.append(
            conversation_id, *[events.thought("again", key=keys[0]) for keys in acked if keys]
        )
        assert all(e.thought.text == "step 0" for e in replayed)
        stored = list(client.memory.events(conversation_id, page_size=1000))
        conversation = client.memory.get_conversation(conversation_id)

    counts = Counter(e.idempotency_key for e in stored)
    assert all(count == 1 for count in counts.values()), counts.most_common(3)
    expected = {key for keys in acked for key in keys} | set(retried)
    assert set(counts) == expected
    assert [e.sequence for e in stored] == list(range(1, len(stored) + 1))
    assert conversation.event_count == len(stored)
    for writer_index, keys in enumerate(acked):
        prefix = f"w{writer_index}-"
        mine = [e.idempotency_key for e in stored if e.idempotency_key.startswith(prefix)]
        assert mine[: len(keys)] == keys  # each writer's events in its order
