"""Shared fixtures: signing keys, a JWKS endpoint and moto's server, all on loopback."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tools.local_stack import LocalStack
from tools.superoffice_standin import JwksServer, SigningKey

ISSUER = "https://sod.superoffice.com"

# Synthesizing runs jsii on Node; use the Node 22 pinned in package.json (as make does)
# when pytest is run directly, rather than the machine's own.
_PINNED_NODE = Path(__file__).resolve().parents[1] / "node_modules" / ".bin"
if _PINNED_NODE.is_dir() and str(_PINNED_NODE) not in os.environ["PATH"].split(os.pathsep):
    os.environ["PATH"] = f"{_PINNED_NODE}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate(kid="superoffice-test-1")


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    """A key SuperOffice never published: what a forger would sign with."""
    return SigningKey.generate(kid="superoffice-test-1")


@pytest.fixture
def jwks(signing_key: SigningKey) -> Iterator[JwksServer]:
    server = JwksServer([signing_key.public_jwk()]).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def local_stack(moto_endpoint: str, tmp_path: Path) -> Iterator[LocalStack]:
    """The whole flow on loopback, on an emptied moto."""
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    stack = LocalStack(state_dir=tmp_path / "local", aws_endpoint=moto_endpoint).start()
    yield stack
    stack.stop()
