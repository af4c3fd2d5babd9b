"""NaN and infinities, at any depth, become the strings the ledger and the evidence write; strict JSON reads them."""

from __future__ import annotations

import json
import math

from pvcontracts.util.jsonsafe import finite
from pvcontracts.util.summary import as_number


def test_non_finite_floats_at_any_depth_become_strings_and_read_back() -> None:
    value = {"a": math.nan, "b": [1.0, math.inf, (-math.inf, 2)], "c": {"d": "nan", "e": None, "f": True}}
    written = finite(value)
    assert written == {"a": "nan", "b": [1.0, "inf", ["-inf", 2]], "c": {"d": "nan", "e": None, "f": True}}
    json.dumps(written, allow_nan=False)  # strict JSON accepts it
    assert [as_number(x) for x in written["b"][2]] == [-math.inf, 2.0]
    assert math.isnan(as_number(written["a"]))
