"""What the installed pandas makes of text and times given as plain lists, which the schema's
messages name: pandas 3 infers a ``str`` column and microseconds, pandas 2 (the declared
minimum is 2.0) an ``object`` column and nanoseconds."""

from __future__ import annotations

import pandas as pd

#: The dtype pandas infers for a list of strings: ``str`` or ``object``.
TEXT_DTYPE = str(pd.Series(["a"]).dtype)
#: How a schema problem names a column of that dtype.
TEXT = "string (str)" if TEXT_DTYPE == "str" else f"object ({TEXT_DTYPE})"
#: The dtype of datetimes parsed from text: ``datetime64[us]`` or ``datetime64[ns]``.
TIMES = str(pd.to_datetime(pd.Series(["2020-01-01"])).dtype)
#: Whether this is pandas 3, whose messages the docs quote.
PANDAS_3 = TEXT_DTYPE == "str"
