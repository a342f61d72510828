"""Tools to forge files with valid checksums, so tests reach the checks behind them."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import satchel
from satchel.format import container, reader

#: The PYTHONPATH of the processes tests start: the tests' folder, and where the satchel
#: these tests import lives, so that a child loads files with it, not with whichever satchel
#: the interpreter would find on its own (an installed one, of another checkout).
CHILD_PATH = os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                              str(Path(satchel.__file__).resolve().parent.parent)])


def rewrite_tree(data: bytes, tree: Any) -> bytes:
    """``data`` with its object tree replaced and every checksum recomputed."""
    header = reader.read_header(io.BytesIO(data))
    payload = [
        reader.Source.from_bytes(data).array(header, i, verify=False)
        for i in range(len(header.arrays))
    ]
    return b"".join(container.serialize(orjson.loads(orjson.dumps(tree)), payload, {}))


def rewrite_metadata(data: bytes, metadata: dict[str, Any]) -> bytes:
    """``data`` with its header metadata replaced and every checksum recomputed."""
    header = reader.read_header(io.BytesIO(data))
    payload = [
        reader.Source.from_bytes(data).array(header, i, verify=False)
        for i in range(len(header.arrays))
    ]
    return b"".join(container.serialize(header.tree, payload, metadata))


def header_metadata(data: bytes) -> dict[str, Any]:
    """A deep copy of the header metadata of ``data``, free to edit."""
    header = reader.read_header(io.BytesIO(data))
    copied: dict[str, Any] = orjson.loads(orjson.dumps(header.metadata))
    return copied


def forge_environment(data: bytes, packages: dict[str, str | None] | None = None,
                      **fields: Any) -> bytes:
    """``data`` claiming another saving environment: packages set (None drops one), fields set."""
    metadata = header_metadata(data)
    environment = metadata["environment"]
    for name, version in (packages or {}).items():
        if version is None:
            environment["packages"].pop(name, None)
        else:
            environment["packages"][name] = version
    environment.update(fields)
    return rewrite_metadata(data, metadata)


def forge_check_outputs(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """``data`` with its check sample's stored outputs edited in place by ``change``."""
    from satchel.format.decoder import decode_inline
    from satchel.format.encoder import encode
    from satchel.format.trust import TrustPolicy

    metadata = header_metadata(data)
    stored = decode_inline(metadata["check"]["tree"], TrustPolicy())
    change(stored["outputs"])
    metadata["check"]["tree"] = encode(stored, inline=True)[0]
    return rewrite_metadata(data, metadata)


def forge_sklearn_version(data: bytes, version: str) -> bytes:
    """``data`` whose estimators all claim to be pickled by scikit-learn ``version``."""
    header = reader.read_header(io.BytesIO(data))

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: version if k == "_sklearn_version" else replace(v)
                    for k, v in node.items()}
        if isinstance(node, list):
            return [replace(item) for item in node]
        return node

    return rewrite_metadata(rewrite_tree(data, replace(header.tree)), header_metadata(data))


def array_offset(data: bytes, index: int = 0) -> int:
    """Where array ``index`` of ``data`` starts in the file."""
    header = reader.read_header(io.BytesIO(data))
    return header.data_start + header.arrays[index].offset
