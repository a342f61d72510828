"""Files saved under older scikit-learn releases, loaded under the installed one.

The files come from ``tests/data/make_old_models.py``: scikit-learn 1.4.2 (the
oldest release satchel supports) and 1.8.0 (the previous minor), each with the
numpy, scipy and pandas of its time.
"""

from __future__ import annotations

import importlib.metadata
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from packaging.version import Version

import satchel
from satchel import checks
from satchel.format import reader
from satchel.format.decoder import decode_inline
from satchel.format.encoder import encode
from satchel.format.trust import TrustPolicy
from tests.hostile_tools import rewrite_metadata

DATA = Path(__file__).parent / "data"
RELEASES = ("1.4.2", "1.8.0")
NAMES = ("pipeline", "forest", "hist_gbm", "knn")
CURRENT = importlib.metadata.version("scikit-learn")
#: What these tests check is a load into a newer release than saved the files: on the oldest
#: release satchel supports (1.4, as a run on the declared minimum versions installs) they
#: do not apply. A file of a newer release loads into an older one at the user's risk.
pytestmark = pytest.mark.skipif(
    Version(CURRENT) <= Version(RELEASES[-1]),
    reason=f"the files of scikit-learn {', '.join(RELEASES)} are loaded into a newer release;"
           f" the installed {CURRENT} is not newer than each")


def _files() -> Iterator[Any]:
    """(release, path) of every file."""
    for release in RELEASES:
        for name in NAMES:
            path = DATA / f"sklearn-{release}" / f"{name}.satchel"
            yield pytest.param(release, path, id=f"{release}-{name}")


FILES = list(_files())


def _change(saved: str, current: str) -> str:
    """major, minor or patch: the first release number that differs (``1.9.dev0`` and
    ``1.9rc1`` are releases 1.9); other when none does (``1.8.0.post1``)."""
    old, new = Version(saved).release, Version(current).release
    return next((kind for i, kind in enumerate(("major", "minor", "patch"))
                 if old[i:i + 1] != new[i:i + 1]), "other")


def _versions(release: str) -> str:
    return f"scikit-learn {release} -> {CURRENT} ({_change(release, CURRENT)})"


def _metadata(data: bytes) -> dict[str, Any]:
    return reader.read_header(io.BytesIO(data)).metadata


def _stored_check(path: Path) -> dict[str, Any]:
    stored: dict[str, Any] = decode_inline(_metadata(path.read_bytes())["check"]["tree"],
                                           TrustPolicy())
    return stored


def _load_warned(path: Path | io.BytesIO, **options: Any) -> tuple[Any, str]:
    """Load ``path``, asserting that the only warning on the way is the mismatch report.

    Warnings are recorded rather than caught with ``pytest.warns``, which would turn
    an error raised by the load into "DID NOT WARN".
    """
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = satchel.load(path, **options)
    assert [w.category for w in record] == [satchel.EnvironmentMismatchWarning], \
        [str(w.message) for w in record]
    return loaded, str(record[0].message)


def _forged(path: Path, method: str) -> bytes:
    """The file at ``path`` with the first stored output of ``method`` changed."""
    data = path.read_bytes()
    metadata = _metadata(data)
    stored = decode_inline(metadata["check"]["tree"], TrustPolicy())
    values = np.array(stored["outputs"][method])
    values[0] = 1 - values[0] if values.dtype.kind in "iub" else values[0] + 1.0
    stored["outputs"][method] = values
    metadata["check"]["tree"] = encode(stored, inline=True)[0]
    return rewrite_metadata(data, metadata)


def test_old_releases_are_older() -> None:
    """The installed scikit-learn is newer than every release the files were saved with."""
    for release in RELEASES:
        assert Version(release) < Version(CURRENT)
        assert (DATA / f"sklearn-{release}").is_dir()


@pytest.mark.parametrize(("release", "path"), FILES)
def test_environment_is_recorded(release: str, path: Path) -> None:
    """Each file records the scikit-learn release it was saved with."""
    assert _metadata(path.read_bytes())["environment"]["packages"]["scikit-learn"] == release


@pytest.mark.parametrize(("release", "path"), FILES)
def test_default_trust_covers_every_file(release: str, path: Path) -> None:
    """Every class and function the files name is trusted by default."""
    assert satchel.inspect(path).untrusted == []


@pytest.mark.parametrize(("release", "path"), FILES)
def test_load_warns_once_with_the_versions(release: str, path: Path) -> None:
    """Loading warns exactly once, naming scikit-learn's saved and current versions."""
    _, message = _load_warned(path)
    assert _versions(release) in message


@pytest.mark.parametrize(("release", "path"), FILES)
def test_check_sample_is_recomputed_and_matches(
        release: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the changed environment triggers the check, and the outputs still match."""
    calls: list[str] = []
    original = checks.verify

    def spy(model: Any, check: dict[str, Any], versions: str) -> None:
        calls.append(versions)
        original(model, check, versions)

    monkeypatch.setattr(checks, "verify", spy)
    model, _ = _load_warned(path)
    assert len(calls) == 1
    assert _versions(release) in calls[0]
    stored = _stored_check(path)
    for method, saved in stored["outputs"].items():
        current = getattr(model, method)(stored["input"])
        if np.asarray(saved).dtype.kind == "f":
            np.testing.assert_allclose(current, saved, rtol=checks.RTOL, atol=checks.ATOL)
        else:
            np.testing.assert_array_equal(current, saved)


@pytest.mark.parametrize(("release", "path"), FILES)
def test_on_mismatch_error_raises(release: str, path: Path) -> None:
    """on_mismatch="error" refuses the file and names the versions."""
    with pytest.raises(satchel.EnvironmentMismatchError) as info:
        satchel.load(path, on_mismatch="error")
    assert _versions(release) in str(info.value)


@pytest.mark.parametrize(("release", "path"), FILES)
def test_on_mismatch_ignore_is_silent(release: str, path: Path) -> None:
    """on_mismatch="ignore" loads the file without any warning."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = satchel.load(path, on_mismatch="ignore")
    assert record == []
    stored = _stored_check(path)
    assert len(model.predict(stored["input"])) == len(stored["outputs"]["predict"])


FORGED = [
    pytest.param("1.4.2", "forest", "predict", "", id="1.4.2-forest-label"),
    pytest.param("1.8.0", "forest", "predict", "", id="1.8.0-forest-label"),
    pytest.param("1.4.2", "hist_gbm", "predict", ", largest absolute difference 1",
                 id="1.4.2-hist_gbm-float"),
    pytest.param("1.4.2", "pipeline", "predict_proba", ", largest absolute difference 1",
                 id="1.4.2-pipeline-proba"),
]


@pytest.mark.parametrize(("release", "name", "method", "gap"), FORGED)
def test_forged_check_sample_is_caught(release: str, name: str, method: str, gap: str) -> None:
    """A stored output that the loaded model does not reproduce raises PredictionMismatchError."""
    path = DATA / f"sklearn-{release}" / f"{name}.satchel"
    rows = _metadata(path.read_bytes())["check"]["rows"]
    forged = _forged(path, method)
    with pytest.warns(satchel.EnvironmentMismatchWarning), \
            pytest.raises(satchel.PredictionMismatchError) as info:
        satchel.load(io.BytesIO(forged))
    message = str(info.value)
    assert f"{method}: 1 of {rows} rows differ{gap}." in message
    assert message.count("rows differ") == 1
    assert _versions(release) in message


@pytest.mark.parametrize(("release", "name", "method", "gap"), FORGED)
def test_verify_false_skips_the_check(release: str, name: str, method: str, gap: str) -> None:
    """verify=False loads the forged file: the check sample is not recomputed."""
    path = DATA / f"sklearn-{release}" / f"{name}.satchel"
    model, _ = _load_warned(io.BytesIO(_forged(path, method)), verify=False)
    stored = _stored_check(path)
    assert len(model.predict(stored["input"])) == len(stored["outputs"]["predict"])
