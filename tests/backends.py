"""Real registry backends for tests: SQLite and a local folder, PostgreSQL and S3 (moto)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

POSTGRES_VARIABLE = "SATCHEL_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class Backend:
    """Where a test registry keeps its metadata and its artifacts."""

    name: str
    uri: str
    artifacts: str | None
    environment: dict[str, str]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: The S3 server of the test session. Each test module that imports ``s3_endpoint``
#: gets its own session-scoped instance of the fixture from pytest; they must all
#: share one server, or the test process (whose s3fs client keeps the endpoint it
#: was created with) would read another server than the one its workers write to.
_SERVER: dict[str, str] = {}


def s3_environment(endpoint: str) -> dict[str, str]:
    """What a process needs to reach the test S3 server."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_S3": endpoint}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1, started once for the session."""
    pytest.importorskip("moto", reason="moto is not installed: pip install 'satchel[test]'")
    if "endpoint" in _SERVER:
        os.environ.update(s3_environment(_SERVER["endpoint"]))
        yield _SERVER["endpoint"]
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(s3_environment(endpoint))
    _SERVER["endpoint"] = endpoint
    try:
        yield endpoint
    finally:
        del _SERVER["endpoint"]
        server.terminate()
        server.wait(10)


def _reset_postgres(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for table in ("satchel_claims", "satchel_alias_history", "satchel_aliases",
                      "satchel_versions", "satchel_models", "satchel_alembic_version"):
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite+local", "postgres+s3"])
def backend(request: pytest.FixtureRequest, tmp_path: object) -> Backend:
    """Each registry test runs on SQLite with a folder and on PostgreSQL with S3."""
    if request.param == "sqlite+local":
        return Backend(request.param, str(tmp_path) + "/registry", None, {})
    url = os.environ.get(POSTGRES_VARIABLE)
    if not url:
        pytest.skip(f"{POSTGRES_VARIABLE} is not set (.ci/run sets it to the local PostgreSQL);"
                    " the PostgreSQL and S3 case runs there")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"satchel-{uuid.uuid4().hex[:12]}"
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir(bucket)
    _reset_postgres(url)
    return Backend(request.param, url, f"s3://{bucket}/models", s3_environment(endpoint))
