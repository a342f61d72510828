"""The header's metadata, decoded strictly: each malformed field is named where it is."""

from __future__ import annotations

from typing import Any

import pytest

import satchel
from satchel.metadata import Metadata


@pytest.mark.parametrize(("field", "value", "message"), [
    ("check", {"rows": "ten", "tree": {}},
     "metadata.check: expected rows (an integer) and tree (a node)"),
    ("code", [{"module": "m", "names": "Step"}],
     "metadata.code[0]: module must be a string and names a list"),
    ("code", [{"module": "m", "source": 1}], "metadata.code[0].source: expected a string"),
    ("code", [{"module": "m", "distribution": "acme", "version": "1'; rm -rf ~; echo '"}],
     "metadata.code[0]: expected the name and version of the distribution that provides the"
     " module, such as 'acme-features' and '2.1.0', found 'acme' and \"1'; rm -rf ~; echo"
     " '\"; the file was altered after it was saved"),
    ("code", [{"module": "m", "names": ["m.A"]}, {"module": "m", "names": ["m.A"]}],
     "metadata.code[1]: module 'm' is recorded twice, expected one record a module; the file"
     " was altered after it was saved"),
    ("schema", {"input": []}, "metadata.schema.input: expected an object"),
])
def test_a_malformed_field_is_named_where_it_is(field: str, value: Any, message: str) -> None:
    """A malformed check sample or code record is reported at metadata.check or
    metadata.code[i], as a schema's fields are at metadata.schema: each was reported as
    'metadata.schema: malformed (metadata.check: ...)', in a schema the file may not have.
    A code record's distribution and version are a name and a version: load's fix quotes
    them as 'pip install NAME==VERSION', and quoted a shell command of the file's. A module
    is recorded once: load looked each of its records up (300,000 of them took seconds)."""
    with pytest.raises(satchel.FormatError) as caught:
        Metadata.from_json({field: value})
    assert str(caught.value) == message
