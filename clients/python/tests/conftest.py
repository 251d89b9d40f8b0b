"""Starts a real `crmd` (the binary named by $CRMD) on a free port with a fresh SQLite file,
and gives the tests a channel to it. The generated code lives in clients/python/gen
(`make python-client`)."""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

GEN = pathlib.Path(__file__).resolve().parents[1] / "gen"
sys.path.insert(0, str(GEN))


@pytest.fixture(scope="session")
def crmd_address():
    binary = os.environ.get("CRMD")
    if not binary or not os.path.exists(binary):
        pytest.fail("set CRMD to the crmd binary (make test-python does)")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                binary,
                "--listen-addr", "127.0.0.1:0",
                "--database-url", f"sqlite://{tmp}/crm.db?mode=rwc",
                "--log-format", "json",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        address = None
        deadline = time.monotonic() + 60
        # The server logs its bound address once it listens; read lines until then.
        for line in proc.stderr:
            if time.monotonic() > deadline:
                break
            try:
                event = json.loads(line)
            except ValueError:
                continue
            fields = event.get("fields", {})
            if fields.get("message", "").startswith("crmd listening"):
                address = fields["address"]
                break
        if address is None:
            proc.kill()
            pytest.fail("crmd did not report its address")
        try:
            yield address
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0, "crmd did not shut down cleanly on SIGTERM"


@pytest.fixture()
def channel(crmd_address):
    with grpc.insecure_channel(crmd_address) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch
