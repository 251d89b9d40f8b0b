"""Starts a real `crmd` (the binary named by $CRMD) on a free port with a fresh SQLite file,
and gives the tests a channel to it and the bootstrap admin's API key. The generated code lives
in clients/python/gen (`make python-client`).

On its first start crmd creates `principals/admin` (role `admin`, scope ALL) and writes its key to
the `--admin-key-file`, before it starts listening; every RPC except health and reflection needs
it as the metadata `authorization: Bearer <key>` (the `auth_metadata` fixture)."""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import pytest

GEN = pathlib.Path(__file__).resolve().parents[1] / "gen"
sys.path.insert(0, str(GEN))


def _drain(stream):
    for _ in stream:
        pass


@pytest.fixture(scope="session")
def crmd():
    """The running server as (address, admin API key)."""
    binary = os.environ.get("CRMD")
    if not binary or not os.path.exists(binary):
        pytest.fail("set CRMD to the crmd binary (make test-python does)")
    with tempfile.TemporaryDirectory() as tmp:
        key_file = pathlib.Path(tmp) / "admin.key"
        proc = subprocess.Popen(
            [
                binary,
                "--listen-addr", "127.0.0.1:0",
                "--database-url", f"sqlite://{tmp}/crm.db?mode=rwc",
                "--log-format", "json",
                "--admin-key-file", str(key_file),
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
        # Keep reading the log so that a full pipe never blocks the server.
        threading.Thread(target=_drain, args=(proc.stderr,), daemon=True).start()
        # The key file is written before the server listens, so it is there by now.
        if not key_file.exists():
            proc.kill()
            pytest.fail(f"crmd did not write the admin key file {key_file}")
        admin_key = key_file.read_text().strip()
        assert admin_key.startswith("crm_"), "the admin key file holds no API key"
        assert key_file.stat().st_mode & 0o077 == 0, "the admin key file must be readable by its owner only"
        try:
            yield address, admin_key
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0, "crmd did not shut down cleanly on SIGTERM"


@pytest.fixture(scope="session")
def crmd_address(crmd):
    return crmd[0]


@pytest.fixture(scope="session")
def admin_key(crmd):
    """The bootstrap admin's API key (`crm_<prefix>_<secret>`)."""
    return crmd[1]


@pytest.fixture(scope="session")
def auth_metadata(admin_key):
    """Call metadata that authenticates as the bootstrap admin: pass it as `metadata=`."""
    return [("authorization", f"Bearer {admin_key}")]


@pytest.fixture()
def channel(crmd_address):
    with grpc.insecure_channel(crmd_address) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch
