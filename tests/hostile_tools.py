"""Tools to forge files with valid checksums, so tests reach the checks behind them."""

from __future__ import annotations

import io
from typing import Any

import orjson

from satchel.format import container, reader


def rewrite_tree(data: bytes, tree: Any) -> bytes:
    """``data`` with its object tree replaced and every checksum recomputed."""
    header = reader.read_header(io.BytesIO(data))
    payload = [
        reader.Source.from_bytes(data).array(header, i, verify=False)
        for i in range(len(header.arrays))
    ]
    return b"".join(container.serialize(orjson.loads(orjson.dumps(tree)), payload, {}))
