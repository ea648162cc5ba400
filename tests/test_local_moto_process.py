"""moto's server in its own process (the local runtime's default): it serves the runtime, and it
never outlives it, however the runtime ends (stop, a failed start, SIGTERM, SIGKILL, its own crash)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import boto3
import pytest

from litestore_webhooks.local import moto_server
from litestore_webhooks.local.runtime import LocalRuntime


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a reaped or exited child is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def test_the_process_serves_aws_and_the_queue_content_and_ends_on_stop():
    server = moto_server.MotoProcess()
    url = server.start()
    pid = server.pid
    assert pid and pid != os.getpid() and _alive(pid)
    try:
        sqs = boto3.client(
            "sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        q = sqs.create_queue(QueueName="peeked")["QueueUrl"]
        sqs.send_message(
            QueueUrl=q,
            MessageBody="later",
            DelaySeconds=60,
            MessageAttributes={"a": {"DataType": "String", "StringValue": "1"}},
        )
        # A delayed message: ReceiveMessage cannot see it, the state file must.
        assert "Messages" not in sqs.receive_message(QueueUrl=q)
        peeked = moto_server.peek_messages("peeked", account="123456789012", region="us-east-1", endpoint_url=url)
        assert [m["Body"] for m in peeked] == ["later"]
        assert peeked[0]["MessageAttributes"]["a"]["StringValue"] == "1"
        assert moto_server.peek_messages("none", account="123456789012", region="us-east-1", endpoint_url=url) == []
    finally:
        server.stop()
    assert _gone_within(pid, 5)


def test_the_runtime_runs_moto_apart_by_default_and_in_process_when_asked(monkeypatch):
    monkeypatch.delenv("LSW_LOCAL_MOTO", raising=False)
    with LocalRuntime(port=0, write_profile=False) as rt:
        pid = rt.moto_pid
        assert pid is not None and _alive(pid)
    assert _gone_within(pid, 5)
    monkeypatch.setenv("LSW_LOCAL_MOTO", "thread")
    with LocalRuntime(port=0, write_profile=False) as rt:
        assert rt.moto_mode == "thread" and rt.moto_pid is None
    monkeypatch.setenv("LSW_LOCAL_MOTO", "threads")
    with pytest.raises(ValueError, match="LSW_LOCAL_MOTO='threads': use one of process, thread"):
        LocalRuntime(port=0)


def test_a_failed_start_ends_moto(tmp_path):
    """The API's port is taken: start raises, and moto's process is gone with it."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    children_before = _children()
    try:
        with pytest.raises(OSError):
            LocalRuntime(port=taken.getsockname()[1], write_profile=False).start()
    finally:
        taken.close()
    deadline = time.monotonic() + 5
    while _children() - children_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (_children() - children_before)


def test_when_moto_cannot_start_the_state_file_is_left_alone(tmp_path, monkeypatch):
    """A start that fails before the state was restored must not save an empty state over it."""
    state = tmp_path / "state.json"
    state.write_text('{"version": 1, "endpoints": [{"item": {"id": "ep_kept"}, "queue": [], "deadLetters": []}]}')
    before = state.read_bytes()
    monkeypatch.setattr(moto_server.sys, "executable", "/bin/false")  # the child exits at once
    with pytest.raises(RuntimeError, match="moto's server process did not start"):
        LocalRuntime(port=0, write_profile=False, state_file=state).start()
    assert state.read_bytes() == before


def _children() -> set[int]:
    """Live children of this process."""
    me = str(os.getpid())
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            out.add(int(pid))
    return out


PARENT = textwrap.dedent("""
    import sys, time
    from litestore_webhooks.local.runtime import LocalRuntime
    rt = LocalRuntime(port=0, write_profile=False).start()
    print(rt.moto_pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_moto_ends_when_the_runtime_process_is_killed(sig):
    """No stop(), no atexit: the child notices its parent is gone and exits."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = parent.stdout.readline()  # type: ignore[union-attr]
        moto_pid = int(line)
        assert _alive(moto_pid)
        parent.send_signal(sig)
        parent.wait(10)
        assert _gone_within(moto_pid, 5), "moto's process outlived the runtime"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_stop_returns_after_moto_crashed():
    rt = LocalRuntime(port=0, write_profile=False).start()
    pid = rt.moto_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert _gone_within(pid, 5)
    started = time.monotonic()
    rt.stop()
    assert time.monotonic() - started < 10
    assert rt.moto_pid is None
