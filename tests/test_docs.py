"""The docs' promises: the README's set-up commands, and every python example runs as written."""

from __future__ import annotations

import contextlib
import io
import os
import signal
from pathlib import Path

import pytest

from tests.inferred import PANDAS_3, TEXT_DTYPE

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


DOCUMENTS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
NOT_RUN = "# Not run by the tests: "


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order."""
    return [part.split("```", 1)[0] for part in path.read_text().split("```python\n")[1:]]


def run_blocks(document: str, blocks: list[str], directory: Path) -> str:
    """Run ``blocks`` of ``document`` in order, in one namespace, inside ``directory``;
    return what they print. A block whose first line is ``NOT_RUN`` and its reason is skipped."""
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    previous = os.getcwd()
    os.chdir(directory)
    try:
        for block in blocks:
            if not block.startswith(NOT_RUN):
                with contextlib.redirect_stdout(printed):
                    exec(compile(block, document, "exec"), namespace)
    finally:
        os.chdir(previous)
    return printed.getvalue()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_document_examples_run(
    document: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every python block of the README and of each document in docs/ runs as written, in
    order, in one namespace, from an empty folder: they used names (pipeline, X_train) they
    never defined, so only ARTIFACTS.md's were run."""
    monkeypatch.delenv("SATCHEL_REGISTRY", raising=False)
    monkeypatch.delenv("SATCHEL_ARTIFACTS", raising=False)
    run_blocks(document, python_blocks(ROOT / document), tmp_path)


def test_blocks_not_run_say_why() -> None:
    """A python block the tests skip gives its reason on its first line."""
    blocks = [b for d in DOCUMENTS for b in python_blocks(ROOT / d)]
    skipped = [b.splitlines()[0] for b in blocks if b.startswith(NOT_RUN)]
    assert [line for line in skipped if not line.removeprefix(NOT_RUN).strip()] == []


@pytest.mark.skipif(not PANDAS_3, reason=f"the docs quote pandas 3's error, which names text"
                    f" columns str; this pandas makes them {TEXT_DTYPE}")
def test_artifact_docs_show_the_real_schema_error(tmp_path: Path) -> None:
    """The SchemaError text quoted in docs/ARTIFACTS.md is what satchel prints."""
    text = (ROOT / "docs" / "ARTIFACTS.md").read_text()
    quoted = text.split("The error reads:\n\n```\n", 1)[1].split("```", 1)[0].strip()
    blocks = python_blocks(ROOT / "docs" / "ARTIFACTS.md")[:3]
    printed = run_blocks("docs/ARTIFACTS.md", blocks, tmp_path)
    assert printed.strip() == quoted


def test_readme_names_every_exit_code() -> None:
    """The README's paragraph on exit codes names each code the command can exit with."""
    from satchel import cli_errors

    text = (ROOT / "README.md").read_text()
    paragraph = text.split("A command exits `0`", 1)[1].split("\n\n", 1)[0]
    codes = {*cli_errors.EXIT_CODES.values(), 1, 128 + signal.SIGINT, 128 + signal.SIGTERM,
             cli_errors._BROKEN_PIPE}
    assert sorted(c for c in codes if f"`{c}`" not in paragraph) == []


def test_every_argument_of_every_command_has_help() -> None:
    """Each option and argument of each command, the registry's included, says in --help what
    it takes: the registry commands' names, versions, aliases, tags and metrics said nothing."""
    import argparse

    from satchel.cli import build_parser

    silent: list[str] = []
    parsers = [("satchel", build_parser())]
    while parsers:
        path, parser = parsers.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += [(f"{path} {name}", sub) for name, sub in action.choices.items()]
            elif not action.help:
                silent.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert sorted(silent) == []


def test_serving_docs_name_every_option_of_serve_and_predict() -> None:
    """SERVING.md names each option of satchel serve and satchel predict, and each method
    --method calls: --method's choices, --trust and --trust-code were in no document."""
    import argparse

    from satchel.checks import METHODS
    from satchel.cli import build_parser

    text = (ROOT / "docs" / "SERVING.md").read_text()
    commands = next(a for a in build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    options = [o for name in ("serve", "predict") for a in commands[name]._actions
               for o in a.option_strings if o.startswith("--") and o != "--help"]
    assert [o for o in options if f"`{o}" not in text] == []
    assert [m for m in METHODS if f"`{m}`" not in text] == []


def commands_and_options() -> list[tuple[str, list[str]]]:
    """Each command of ``satchel`` (the registry's included) with its long options, but for
    argparse's own ``--help`` and ``--version``."""
    import argparse

    from satchel.cli import build_parser

    found: list[tuple[str, list[str]]] = []
    parsers = [("satchel", build_parser())]
    while parsers:
        path, parser = parsers.pop()
        options: list[str] = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += [(f"{path} {name}", sub) for name, sub in action.choices.items()]
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                options += [o for o in action.option_strings if o.startswith("--")]
        found.append((path, options))
    return found


def test_every_command_and_option_is_in_the_docs() -> None:
    """Each command and each of its long options is named in the README or a document in
    docs/: satchel untrusted, inspect --max-rows, registry gc --grace, alias --delete and
    the --description of register and tag were in none."""
    import re

    text = "\n".join((ROOT / document).read_text() for document in DOCUMENTS)
    missing = [path for path, _ in commands_and_options()
               if path != "satchel" and not re.search(rf"{re.escape(path)}\b", text)]
    missing += [f"{path} {option}" for path, options in commands_and_options()
                for option in options if not re.search(rf"{re.escape(option)}(?![\w-])", text)]
    assert missing == []


def test_trust_docs_name_the_default_lists() -> None:
    """TRUST.md names each module part whose classes are not trusted and each class and
    function trusted by name: conftest, _build_utils and the functions estimators hold
    (check_array, k-means's) were in no list."""
    from satchel.format import trust

    text = (ROOT / "docs" / "TRUST.md").read_text()
    named = [*trust.TRUSTED_FUNCTIONS, *trust.DATA_CLASSES, *trust.REVIEWED_COMPILED,
             *(n for n in trust.TRUSTED_CLASSES if not n.startswith("scipy.stats."))]
    missing = [part for part in trust._UNSAFE_SKLEARN_PARTS if f"`{part}`" not in text]
    missing += [name for name in named if f"{name.split(':')[1]}`" not in text]
    assert sorted(missing) == []


def test_format_spec_states_the_reader_constants() -> None:
    """FORMAT.md's version, limits and thresholds are the values of the constants the reader
    and writer use."""
    from satchel.format import arrays, container, decoder, dtypes, encoder, reader, writer
    from satchel.format.handlers import builtins, numpy_

    mib = 1 << 20
    text = " ".join((ROOT / "docs" / "FORMAT.md").read_text().split())
    stated = [
        f"# The satchel file format, version {container.FORMAT_MAJOR}.{container.FORMAT_MINOR}",
        f"| 10 | 2 | minor version | `{container.FORMAT_MINOR}` (u16) |",
        f"`header_len` is at most {container.MAX_HEADER_BYTES // mib} MiB",
        f"The header inflates to at most {container.MAX_HEADER_BYTES // mib} MiB",
        f"holds at most {container.MAX_NODES:,} `{{` and `[` characters",
        f"and at most {container.MAX_VALUES:,} values and keys, counted as its",
        f"At most {container.MAX_ARRAYS:,} arrays",
        f"itemsize at most {dtypes.MAX_ITEMSIZE // mib} MiB",
        f"at most {dtypes.MAX_NDIM} dimensions",
        f"at most `max({container.MAX_COMPRESSION_RATIO} * length, 1 MiB)`",
        f"`max({container.MAX_COMPRESSION_RATIO} * their stored bytes,"
        f" {container.MAX_INFLATED_FLOOR // mib} MiB)`",
        f"nest at most {decoder.MAX_DEPTH} levels below its root and number at most"
        f" {container.MAX_NODES:,}",
        f"at most {builtins.MAX_COLLISIONS:,} distinct keys of a dict or set share one hash",
        f"an `objs`/`news` node holds 1 to {container.MAX_NODES:,} members",
        f"an `objarray` axis at most {numpy_._MAX_OBJECTS:,} entries",
        f"each axis at most {numpy_._MAX_OBJECTS:,}",
        f"each array in the array section (of {container._COMPRESS_FROM} bytes or more)",
        f"a `range` holds at most {container.MAX_NODES:,} numbers",
        f"at most {encoder.MAX_INT_DIGITS} digits",
        f"arrays of at most {container.INLINE_MAX} bytes stored inline",
        f"headers of {container._HEADER_ZLIB_FROM} bytes or more",
        f"(level {container._HEADER_LEVEL})",
        f"hold {writer.STREAM_FROM // mib} MiB or more",
        f"hashing each {writer._CHUNK // mib} MiB chunk",
        f"of the same width, plus {writer._HEADER_SLACK} bytes",
        f"each group of about {arrays.CHUNK // mib} MiB",
        f"a full load reads a file of {reader._WHOLE_BELOW // mib} MiB or more",
        f"are packed (`strs`, `strdict`, `objarray` with `strs`) from {builtins.PACK_FROM}"
        " elements on",
    ]
    assert [phrase for phrase in stated if phrase not in text] == []


def test_every_public_name_and_keyword_is_in_the_docs() -> None:
    """Each name satchel exports, and each keyword of its functions and of Registry's
    methods, is named in the README or a document in docs/: dumps, verify's Verification,
    sample_rows, include_archived and ConflictError were in none."""
    import inspect
    import re

    import satchel

    text = "\n".join((ROOT / document).read_text() for document in DOCUMENTS)
    functions = [getattr(satchel, name) for name in satchel.__all__
                 if inspect.isfunction(getattr(satchel, name))]
    functions += [satchel.Registry, *(method for name, method in vars(satchel.Registry).items()
                                      if inspect.isfunction(method) and name[0] != "_")]
    keywords = {(f.__qualname__, p.name) for f in functions  # past self or the target
                for p in [*inspect.signature(f).parameters.values()][1:]
                if p.kind is p.KEYWORD_ONLY or p.default is not p.empty}
    missing = [n for n in satchel.__all__ if not re.search(rf"\b{n}\b", text)]
    missing += [f"{where}({name}=)" for where, name in sorted(keywords)
                if not re.search(rf"\b{name}\b", text)]
    assert missing == []


def test_documents_state_the_constants() -> None:
    """The tolerances, sizes and limits that ARTIFACTS.md, REGISTRY.md and SERVING.md give
    are the values of the constants the code uses."""
    import inspect

    from satchel import checks, metadata, validation
    from satchel.registry import names
    from satchel.serving import app, batching, inputs

    def said(document: str) -> str:
        return " ".join((ROOT / "docs" / document).read_text().split())

    def short(tolerance: float) -> str:
        return f"{tolerance:.0e}".replace("e-0", "e-")

    batch_rows = inspect.signature(batching.Batcher).parameters["max_rows"].default
    stated = {
        "ARTIFACTS.md": [
            f"`sample_rows=`, {checks.DEFAULT_ROWS} by default; at most"
            f" {checks.MAX_BYTES >> 20} MiB of JSON",
            f"`|saved - current| <= {short(checks.ATOL)} + {short(checks.RTOL)} * |saved|`",
            f"as far as {validation.HINT_COMPARISONS:,} name comparisons go",
            f"A dtype name is at most {metadata.MAX_DTYPE_NAME} characters",
        ],
        "REGISTRY.md": [
            f"at most {metadata.MAX_DEPTH} levels deep",
            f"are 1 to {names.MAX_LENGTH} letters",
            f"A version number is a whole number from 1 to 2**{names.MAX_VERSION.bit_length()}-1",
        ],
        "SERVING.md": [
            f"bodies of {app.PARSE_OFF_LOOP_BYTES >> 10} KiB or more are parsed in one",
            f"(up to {batch_rows} rows, one call per model and method)",
            f"over {inputs._EXTRA_COLUMNS} columns more than the model takes",
            f"{['two', 'three', 'four', 'five'][inputs._SPARSE_CELLS - 2]} times as many cells",
        ],
    }
    assert [(d, p) for d, phrases in stated.items() for p in phrases if p not in said(d)] == []


def table_under(text: str, heading: str) -> str:
    """The first Markdown table of ``text`` below ``heading``."""
    blocks = text.split(heading, 1)[1].split("\n\n")
    return next(block for block in blocks if block.startswith("|"))


def test_serving_docs_list_every_route_and_status(tmp_path: Path) -> None:
    """SERVING.md's table of routes is the app's routes, each with its method, and its table of
    errors gives every status satchel.serving.app.STATUS maps an error to (503 is told of with
    /ping and /health)."""
    from satchel.serving import app, create_app

    text = (ROOT / "docs" / "SERVING.md").read_text()
    routes = table_under(text, "## Routes").splitlines()[2:]
    served = {f"{min(set(route.methods) - {'HEAD'})} {route.path}"
              for route in create_app(str(tmp_path / "absent.satchel")).routes}
    assert {line.split("`")[1] for line in routes} == served
    errors = table_under(text, "## Errors").splitlines()[2:]
    statuses = {status for _, status in app.STATUS} - {503}
    assert sorted(statuses - {int(line.split("|")[1]) for line in errors}) == []


def test_trust_docs_state_the_validators_limits() -> None:
    """The limits TRUST.md's table gives are those the validators of compiled state enforce."""
    from satchel.format.handlers import sklearn_estimators as estimators
    from satchel.format.handlers import sklearn_params as params
    from satchel.format.handlers import sklearn_sizes as sizes

    text = " ".join((ROOT / "docs" / "TRUST.md").read_text().split())
    stated = [
        f"`n_jobs` is None or a whole number up to {params.MAX_JOBS}",
        f"is from 1 to {estimators.MAX_THREADS}",
        f"are at most {params.MAX_TRANSFORM_ITERATIONS:,}",
        f"at most 2**{estimators._MAX_BISECTING_NODES.bit_length() - 1} nodes",
        f"at most 2**{sizes.MAX_COLUMNS.bit_length() - 1}",
        f"a pair of lengths from 1 to {sizes.MAX_NGRAM}",
        f"there are 2 to {estimators.MAX_SVM_CLASSES} classes",
    ]
    assert [phrase for phrase in stated if phrase not in text] == []
