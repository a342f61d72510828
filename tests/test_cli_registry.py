"""satchel registry ...: the registry's commands as a user types them, and what they print."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import satchel
from satchel.cli import main
from satchel.registry import Registry


@pytest.fixture
def registry(tmp_path: Path, forest_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry (SATCHEL_REGISTRY) holding the forest as churn versions 1 and 2."""
    monkeypatch.setenv("SATCHEL_REGISTRY", str(tmp_path / "registry"))
    for _ in range(2):
        assert main(["registry", "register", str(forest_file), "churn"]) == 0
    return tmp_path / "registry"


def test_delete_of_an_aliased_version_names_the_force_option(
        registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting a version an alias points to says to pass --force, the option that deletes it
    anyway (it said force=True, which no command takes), and --force then deletes it."""
    assert main(["registry", "alias", "churn", "production", "2"]) == 0
    capsys.readouterr()
    assert main(["registry", "delete", "churn", "2"]) == 2
    assert capsys.readouterr().err == (
        "satchel: error: models:/churn/2 is the target of alias(es) ['production']; move them"
        " first or pass --force to delete them too\n")
    assert main(["registry", "delete", "churn", "2", "--force"]) == 0
    assert capsys.readouterr().out == "deleted models:/churn/2\n"


def test_every_command_prints_json_with_json(registry: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """alias, tag, delete and gc print JSON with --json like the other registry commands;
    they printed their sentence whatever --json said."""
    def printed(*args: str) -> object:
        assert main(["registry", *args, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    assert printed("alias", "churn", "production", "1") == {
        "uri": "models:/churn@production", "version": 1}
    assert printed("alias", "churn", "production", "--delete") == {
        "uri": "models:/churn@production", "version": None}
    tagged = printed("tag", "churn", "1", "--set", "stage=qa")
    assert isinstance(tagged, dict)
    assert (tagged["uri"], tagged["tags"]) == ("models:/churn/1", {"stage": "qa"})
    assert printed("delete", "churn", "1", "--archive") == {"uri": "models:/churn/1",
                                                            "status": "archived"}
    assert printed("restore", "churn", "1") == {"uri": "models:/churn/1", "status": "active"}
    assert printed("delete", "churn", "2") == {"uri": "models:/churn/2", "status": "deleted"}
    assert printed("gc") == []


@pytest.mark.parametrize("command", [["models"], ["versions", "churn"],
                                     ["show", "models:/churn"], ["gc"],
                                     ["alias", "churn", "production", "1"]])
def test_commands_that_read_a_registry_create_none(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry command run where there is no registry says so and creates nothing; it made
    an empty ./satchel-registry and listed no models (or said the model was not in it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SATCHEL_REGISTRY", raising=False)
    assert main(["registry", *command]) == 2
    assert capsys.readouterr().err.startswith(
        "satchel: error: there is no registry at 'satchel-registry' (the default location, as"
        " neither a uri nor SATCHEL_REGISTRY names one): ")
    assert list(tmp_path.iterdir()) == []


def test_register_creates_the_registry(tmp_path: Path, forest_file: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """register makes the registry that is not there yet, which the other commands then read."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SATCHEL_REGISTRY", raising=False)
    assert main(["registry", "register", str(forest_file), "churn"]) == 0
    assert main(["registry", "models"]) == 0
    assert (tmp_path / "satchel-registry" / "registry.db").is_file()


def test_a_database_without_an_artifact_store_names_the_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A database URL with no artifact store says to pass --artifacts, the option that gives
    one; it said artifacts='s3://bucket/prefix', which no command takes."""
    monkeypatch.delenv("SATCHEL_ARTIFACTS", raising=False)
    assert main(["registry", "models", "--registry", f"sqlite:///{tmp_path}/registry.db"]) == 2
    assert capsys.readouterr().err == (
        "satchel: error: the registry database sqlite://... needs an artifact store: pass"
        " --artifacts s3://bucket/prefix (any fsspec URL) or set SATCHEL_ARTIFACTS\n")


def test_a_missing_model_names_the_registry_asked(registry: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A model the registry does not have is reported with the registry that was asked and
    how to name another: run in the wrong folder, a command asked an empty registry there
    and said only that no models were registered."""
    assert main(["registry", "versions", "churn2"]) == 2
    assert capsys.readouterr().err == (
        "satchel: error: no model named 'churn2'; did you mean 'churn'? (in the"
        f" registry at {str(registry)!r}; --registry or SATCHEL_REGISTRY names another)\n")
    (tmp_path / "rows.csv").write_text("a,b,c,d\n1,2,3,4\n")
    assert main(["predict", "models:/churn/3", str(tmp_path / "rows.csv"), "-o",
                 str(tmp_path / "out.csv")]) == 2
    assert capsys.readouterr().err == (
        "satchel: error: model 'churn' has no version 3; it has versions [1, 2] (in the"
        f" registry at {str(registry)!r}; SATCHEL_REGISTRY names another)\n")


def test_times_say_their_zone(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A version's creation time is given in UTC and says so, in JSON and in the table: SQLite
    gives it back without its zone, so JSON held a time that reads as local."""
    capsys.readouterr()
    assert main(["registry", "show", "models:/churn/1", "--json"]) == 0
    created = datetime.fromisoformat(json.loads(capsys.readouterr().out)["created_at"])
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    assert main(["registry", "versions", "churn"]) == 0
    first = capsys.readouterr().out.splitlines()[2]
    assert first.split()[-3:] == created.strftime("%Y-%m-%d %H:%M UTC").split()
    assert main(["registry", "models", "--json"]) == 0  # as versions --json gives them
    model = datetime.fromisoformat(json.loads(capsys.readouterr().out)[0]["created_at"])
    assert model.tzinfo is not None


def test_restore_brings_an_archived_version_back(registry: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """An archived version leaves the latest; restore puts it back, and says so."""
    assert main(["registry", "delete", "churn", "2", "--archive"]) == 0
    assert main(["registry", "show", "models:/churn", "--json"]) == 0
    capsys.readouterr()
    assert main(["registry", "restore", "churn", "2"]) == 0
    assert capsys.readouterr().out == "restored models:/churn/2\n"
    assert main(["registry", "show", "models:/churn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2
    assert main(["registry", "restore", "churn", "7"]) == 2
    assert "has no version 7" in capsys.readouterr().err


def test_registering_a_missing_file_names_no_registry(registry: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A file to register that does not exist, or is a folder, a device or a pipe, is
    reported as such: the message said the file was not 'in the registry at ...' and that
    --registry names another, sending the user to the wrong place (and /dev/null was 'no
    such file')."""
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    for given, found in [(tmp_path / "missing.satchel", "no such file"),
                         (tmp_path / "folder", "a folder, not a file"),
                         (tmp_path / "pipe", "a device, a pipe or a socket, not a file"),
                         (Path("/dev/null"), "a device, a pipe or a socket, not a file")]:
        assert main(["registry", "register", str(given), "churn"]) == 2
        assert capsys.readouterr().err == (
            f"satchel: error: cannot register {str(given)!r}: {found}; expected the path of a"
            " .satchel file or a models:/ URI\n")
    assert main(["registry", "versions", "churn", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_registering_with_the_name_first_says_the_file_comes_first(
        registry: Path, forest_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """satchel registry register churn FILE (the order of Registry.register(name, model))
    says to give the file first, registering nothing: it said only that there is no file
    'churn'."""
    assert main(["registry", "register", "churn", str(forest_file)]) == 2
    assert capsys.readouterr().err == (
        "satchel: error: cannot register 'churn': no such file; expected the path of a"
        f" .satchel file or a models:/ URI. The file comes first: satchel registry register"
        f" {str(forest_file)!r} 'churn'\n")
    assert main(["registry", "versions", "churn", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


@pytest.mark.parametrize(("args", "expected"), [
    (["tag", "churn", "1", "--set", "stage=qa", "--remove", "stage"],
     "--set and --remove both name the tag 'stage': pass one of them"),
    (["tag", "churn", "1", "--set", "stage=qa", "--set", "stage=prod"],
     "--set gives the tag 'stage' two values ('qa', 'prod'): pass one of them"),
    (["register", "FILE", "churn", "--tag", "team=a", "--tag", "team=b"],
     "--tag gives the tag 'team' two values ('a', 'b'): pass one of them"),
    (["register", "FILE", "churn", "--metric", "auc=0.9", "--metric", "auc=0.8"],
     "--metric gives the metric 'auc' two values (0.9, 0.8): pass one of them"),
])
def test_options_that_contradict_each_other_change_nothing(
        registry: Path, forest_file: Path, capsys: pytest.CaptureFixture[str],
        args: list[str], expected: str) -> None:
    """A tag both set and removed, or given two values, is refused and changes nothing: one
    of the two was kept in silence (a tag set and removed was removed)."""
    args = [str(forest_file) if a == "FILE" else a for a in args]
    assert main(["registry", *args]) == 2
    assert capsys.readouterr().err == f"satchel: error: {expected}\n"
    assert main(["registry", "versions", "churn", "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["tags"], v["metrics"]) for v in versions] == [(1, {}, {}),
                                                                          (2, {}, {})]


def test_file_commands_read_a_registered_model(registry: Path, forest_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """inspect, verify, untrusted and diff read the file a models:/ URI names, as load,
    predict and serve do: each said 'No such file or directory: 'models:/churn/1''."""
    assert main(["registry", "alias", "churn", "production", "2"]) == 0
    capsys.readouterr()
    assert main(["inspect", "models:/churn@production", "--json"]) == 0
    digest = json.loads(capsys.readouterr().out)["digest"]
    assert main(["inspect", str(forest_file), "--json"]) == 0
    assert digest == json.loads(capsys.readouterr().out)["digest"]
    assert main(["verify", "models:/churn/1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["untrusted", "models:/churn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["diff", "models:/churn/1", "models:/churn@production", "--exit-code"]) == 0
    assert capsys.readouterr().out == "no differences\n"
    assert main(["inspect", "models:/churn/3"]) == 2
    assert capsys.readouterr().err == (
        "satchel: error: model 'churn' has no version 3; it has versions [1, 2] (in the"
        f" registry at {str(registry)!r}; SATCHEL_REGISTRY names another)\n")


def test_verify_of_a_registered_model_checks_the_recorded_digest(
        registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify models:/... fails when the stored file is a sound satchel file other than
    the one registered: its own checksums pass, its digest is not the recorded one."""
    other = tmp_path / "other.satchel"
    satchel.save({"a": 1}, other)
    store = Registry(str(registry))
    recorded = store.resolve("models:/churn/1").digest
    stored = Path(store.artifact_path("models:/churn/1"))
    stored.chmod(0o644)
    stored.write_bytes(other.read_bytes())
    found = satchel.inspect(other).digest
    assert main(["verify", "models:/churn/1"]) == 4
    assert capsys.readouterr().err == (
        f"satchel: error: the file of models:/churn/1 has the digest {found}, not the"
        f" {recorded} the registry recorded: it was replaced; register the model again\n")
