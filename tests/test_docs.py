"""The README's promises: the two set-up commands come first, the CI runs the second."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The commands of the README's first code block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands() -> None:
    """The first code block holds the main-job command and the test command."""
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("satchel quickstart")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls exactly the README's test command."""
    assert readme_commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_format_spec_names_every_node_kind() -> None:
    """FORMAT.md documents every node kind the decoder knows."""
    import satchel.format.handlers  # noqa: F401 - registers the kinds
    from satchel.format.decoder import BY_KIND

    spec = (ROOT / "docs" / "FORMAT.md").read_text()
    assert [kind for kind in BY_KIND if f"`{kind}`" not in spec] == []
