"""Concurrent and interrupted registrations: no lost versions, no half versions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import satchel
from satchel.registry import Registry
from tests.backends import Backend, backend, s3_endpoint  # noqa: F401 - fixtures

WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from satchel.registry import Registry

    uri, artifacts, cache, count, seed = sys.argv[1:6]
    registry = Registry(uri, artifacts=None if artifacts == "-" else artifacts, cache=cache)
    rng = np.random.default_rng(int(seed))
    features = rng.normal(size=(30, 3))
    model = LogisticRegression().fit(features, features[:, 0] > 0)
    print("ready", flush=True)
    for i in range(int(count)):
        model.intercept_ = np.array([float(int(seed) * 1000 + i)])
        registry.register("shared", model, tags={"worker": seed})
""")


def start(backend: Backend, tmp_path: Path, count: int, seed: int) -> subprocess.Popen[bytes]:  # noqa: F811
    """A registering worker process."""
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, backend.uri, backend.artifacts or "-",
         str(tmp_path / "cache"), str(count), str(seed)],
        stdout=subprocess.PIPE, env={**os.environ, **backend.environment})


def open_registry(backend: Backend, tmp_path: Path) -> Registry:  # noqa: F811
    """The backend's registry, opened in this process."""
    os.environ.update(backend.environment)
    return Registry(backend.uri, artifacts=backend.artifacts, cache=str(tmp_path / "cache"))


@pytest.mark.slow
def test_eight_processes_lose_no_version(backend: Backend, tmp_path: Path) -> None:  # noqa: F811
    """8 processes registering 50 versions each get 400 distinct consecutive versions."""
    registry = open_registry(backend, tmp_path)
    workers = [start(backend, tmp_path, 50, seed) for seed in range(1, 9)]
    for worker in workers:
        assert worker.wait(timeout=600) == 0
    versions = registry.versions("shared")
    assert [v.version for v in versions] == list(range(1, 401))
    per_worker = {str(seed): 0 for seed in range(1, 9)}
    for version in versions:
        per_worker[version.tags["worker"]] += 1
    assert set(per_worker.values()) == {50}
    assert len({v.digest for v in versions}) == 400


@pytest.mark.slow
def test_killed_registrations_leave_no_half_version(backend: Backend, tmp_path: Path) -> None:  # noqa: F811
    """Registrations killed with SIGKILL at random points leave only whole versions."""
    registry = open_registry(backend, tmp_path)
    for round_number, delay in enumerate((0.3, 0.7, 1.1, 1.6, 2.2)):
        worker = start(backend, tmp_path, 1000, round_number + 1)
        assert worker.stdout is not None
        worker.stdout.readline()
        time.sleep(delay)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    versions = registry.versions("shared")
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    for version in versions:
        assert registry.store.exists(version.stored_as)
    assert registry.load(f"models:/shared/{versions[-1].version}").coef_.shape == (1, 3)
    registry.gc(grace_seconds=0)
    assert all(registry.store.exists(v.stored_as) for v in registry.versions("shared"))
    stored = {digest for digest, _ in registry.store.digests()}
    assert stored == {v.stored_as for v in registry.versions("shared")}
    worker = start(backend, tmp_path, 1, 99)
    assert worker.wait(timeout=120) == 0
    assert registry.versions("shared")[-1].version == len(versions) + 1


CHANGER = textwrap.dedent("""
    import sys
    from satchel.errors import NotFoundError
    from satchel.registry import Registry

    uri, artifacts, cache, action, count = sys.argv[1:6]
    registry = Registry(uri, artifacts=None if artifacts == "-" else artifacts, cache=cache)
    print("ready", flush=True)
    sys.stdin.readline()
    for version in range(1, int(count) + 1):
        if action == "delete":
            registry.delete("shared", version)
        elif action == "archive":
            try:
                registry.archive("shared", version)
            except NotFoundError:
                pass
        else:
            registry.update("shared", 1, tags={f"{action}{version}": "x"})
""")


def run_together(backend: Backend, tmp_path: Path, count: int, *actions: str) -> None:  # noqa: F811
    """Start a process per action, let them all begin at once, wait for them to succeed."""
    workers = [subprocess.Popen(
        [sys.executable, "-c", CHANGER, backend.uri, backend.artifacts or "-",
         str(tmp_path / "cache"), action, str(count)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **backend.environment})
        for action in actions]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline() == b"ready\n"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        worker.stdin.close()
    for worker in workers:
        assert worker.wait(timeout=600) == 0


def registry_file(tmp_path: Path) -> Path:
    """A small satchel file to register."""
    path = tmp_path / "model.satchel"
    if not path.exists():
        features = np.random.default_rng(0).normal(size=(30, 3))
        satchel.save(LogisticRegression().fit(features, features[:, 0] > 0), path)
    return path


@pytest.mark.slow
def test_concurrent_tag_updates_keep_every_tag(backend: Backend, tmp_path: Path) -> None:  # noqa: F811
    """Two processes adding 40 tags each to one version at once leave all 80."""
    registry = open_registry(backend, tmp_path)
    registry.register("shared", registry_file(tmp_path))
    run_together(backend, tmp_path, 40, "a", "b")
    assert len(registry.version("shared", 1).tags) == 80


@pytest.mark.slow
def test_archiving_never_brings_a_deleted_version_back(backend: Backend, tmp_path: Path  # noqa: F811
                                                        ) -> None:
    """A version archived while another process deletes it stays deleted."""
    registry = open_registry(backend, tmp_path)
    for _ in range(30):
        registry.register("shared", registry_file(tmp_path))
    run_together(backend, tmp_path, 30, "archive", "delete")
    assert registry.versions("shared") == []



DYING = textwrap.dedent("""
    import os
    import signal
    import sys
    from satchel.registry import Registry
    from satchel.registry.artifacts import ArtifactStore

    registry = Registry(sys.argv[1])
    ArtifactStore.put = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
    registry.register("churn", {"coef": list(range(100))})
""")


def test_gc_removes_the_file_a_killed_registration_saved(tmp_path: Path) -> None:
    """A registration killed once it saved the model leaves no file that gc does not remove:
    the model was saved in the system's temporary folder, where it stayed, a model's size
    each time."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    registry = Registry(str(tmp_path / "registry"))
    died = subprocess.run([sys.executable, "-c", DYING, str(tmp_path / "registry")],
                          env={**os.environ, "TMPDIR": str(temporary)}, check=False)
    assert died.returncode == -signal.SIGKILL
    registry.gc(grace_seconds=0)
    assert list(temporary.iterdir()) == []
    assert [p for p in (tmp_path / "registry").rglob("*") if p.is_file()
            and not p.name.startswith("registry.db")] == []
    assert registry.models() == []
