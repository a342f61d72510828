"""Tables for the command line: rich on a terminal, plain text when piped."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from satchel.format import handlers  # noqa: F401 - fills NAMED_KINDS
from satchel.format.container import Header
from satchel.format.decoder import NAMED_KINDS
from satchel.format.trust import TrustPolicy, dotted


@dataclass(frozen=True)
class Table:
    """A titled table of strings."""

    title: str
    columns: list[str]
    rows: list[list[str]]


def render(table: Table) -> None:
    """Print ``table``: with rich on a terminal, as aligned plain text otherwise.

    Cells come from files (column names, metadata, package names), so every
    character that is not printable is written as its escape (``\\x1b``,
    ``\\n``) and rich is given text, not markup: an escape sequence or a
    ``[red]`` tag from a file neither reaches the terminal nor styles it.
    """
    title, columns = printable(table.title), [printable(c) for c in table.columns]
    rows = [[printable(cell) for cell in row] for row in table.rows]
    if sys.stdout.isatty() and _render_rich(title, columns, rows):
        return
    widths = [max(len(c) for c in column) for column in zip(columns, *rows, strict=True)]
    print(f"# {title}")
    for row in [columns, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                 strict=True)).rstrip())
    print()


def _render_rich(title: str, columns: list[str], rows: list[list[str]]) -> bool:
    """Print the table with rich, as text (not markup); False if rich is not installed."""
    try:
        from rich.console import Console  # noqa: PLC0415 - optional dependency
        from rich.table import Table as RichTable  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415
    except ImportError:
        return False
    shown = RichTable(title=Text(title), title_justify="left")
    for column in columns:
        shown.add_column(Text(column))
    for row in rows:
        shown.add_row(*map(Text, row))
    Console().print(shown)
    return True


def printable(value: Any) -> str:
    """``str(value)`` with each character that is not printable (controls, format characters
    such as a right-to-left override, line breaks) written as Python escapes it (``\\x1b``,
    ``\\n``, ``\\u202e``)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return f"{count:.1f} TiB"


def tree_rows(header: Header, limit: int) -> list[list[str]]:
    """One row per object, array and reference in the tree: path, type, detail, trust; past
    ``limit`` rows, one that says how many more there are and the limit that lists them."""
    policy = TrustPolicy()
    rows: list[list[str]] = []
    hidden = 0
    stack: list[tuple[Any, str]] = [(header.tree, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node))))
            continue
        if not isinstance(node, dict):
            continue
        row = _row(node, path or "<root>", header, policy)
        if row and len(rows) < limit:
            rows.append(row)
        elif row:
            hidden += 1
        if node.get("$") in ("objs", "news"):  # members stored as columns: one row per column
            columns = (node.get("state") or {}).get("v")
            member = path if "[*]" in path else f"{path}[*]"  # a column of members is per member
            if isinstance(columns, dict):
                stack.extend((v, f"{member}.{k}") for k, v in reversed(list(columns.items())))
            continue
        children = node.get("v") if node.get("$") == "dict" else node.get("state", node.get("v"))
        if isinstance(children, dict) and "$" not in children:
            stack.extend((v, f"{path}.{k}") for k, v in reversed(list(children.items())))
        elif children is not None:
            stack.append((children, path))
    if hidden:
        rows.append(["...", f"{hidden} more not shown", f"--max-rows {limit + hidden} lists"
                     " them", ""])
    return rows


def _row(node: dict[str, Any], path: str, header: Header, policy: TrustPolicy) -> list[str]:
    kind = node.get("$")
    if kind in ("obj", "new", "func", "type", "objs", "news"):
        name = str(node.get("cls") or node.get("name"))
        role = NAMED_KINDS[str(kind)][1]
        trusted = policy.trusts(role, name)
        detail = f"{role} x{node.get('n')}, as columns" if kind in ("objs", "news") else role
        return [path.lstrip("."), dotted(name), detail, "trusted" if trusted else "UNTRUSTED"]
    if kind == "nd":
        if "a" in node and isinstance(node["a"], int) and node["a"] < len(header.arrays):
            spec = header.arrays[node["a"]]
            codec = f", {spec.codec}" if spec.codec else ""
            return [path.lstrip("."), "ndarray", f"{spec.dtype} {spec.shape} {_size(spec.nbytes)}"
                    f"{codec}", ""]
        return [path.lstrip("."), "ndarray", f"{node.get('dtype')} {node.get('shape')} inline", ""]
    if kind in ("sparse", "pandas", "objarray", "strdict"):
        return [path.lstrip("."), str(node.get("cls") or node.get("kind") or kind), "", ""]
    return []
