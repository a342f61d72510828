"""Real registry backends for tests: SQLite and a local folder, PostgreSQL and S3 (moto)."""

from __future__ import annotations

import atexit
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

POSTGRES_VARIABLE = "SATCHEL_TEST_POSTGRES_URL"
#: The URL of this test process's own schema, once made (see :func:`postgres_url`).
_SCHEMA_URL: dict[str, str] = {}


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


def postgres_url() -> str | None:
    """SATCHEL_TEST_POSTGRES_URL, in a schema of this test process's own (made on first use,
    dropped at exit), or None when it is not set.

    Each test drops the registry's tables before it runs: two test runs on one database
    (two checkouts, or CI beside a developer) dropped each other's tables mid-test. The
    schema is the connection's ``search_path``, so the registry's unqualified tables and
    alembic's version table are made in it. Schemas left by runs that were killed are
    dropped first.
    """
    url = os.environ.get(POSTGRES_VARIABLE)
    if not url:
        return None
    if url not in _SCHEMA_URL:
        import sqlalchemy as sa

        schema = f"satchel_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            for (left,) in connection.execute(sa.text(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'satchel_test_%'")):
                found = re.fullmatch(r"satchel_test_(\d+)_[0-9a-f]{8}", left)
                if found and not _alive(int(found[1])):
                    connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {left} CASCADE"))
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
        atexit.register(_drop_schema, engine, schema)
        joiner = "&" if "?" in url else "?"
        _SCHEMA_URL[url] = f"{url}{joiner}options=-csearch_path%3D{schema}"
    return _SCHEMA_URL[url]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_schema(engine: object, schema: str) -> None:
    import sqlalchemy as sa

    assert isinstance(engine, sa.Engine)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


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
    url = postgres_url()
    if not url:
        pytest.skip(f"{POSTGRES_VARIABLE} is not set (.ci/run sets it to the local PostgreSQL);"
                    " the PostgreSQL and S3 case runs there")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"satchel-{uuid.uuid4().hex[:12]}"
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir(bucket)
    _reset_postgres(url)
    return Backend(request.param, url, f"s3://{bucket}/models", s3_environment(endpoint))
