"""Static resolution of the pytest tests that contract gates and falsifiers name.

A gate that names a test which does not exist can never be discharged, and a
typo in a reference would otherwise only surface when the evidence run comes
back empty. ``pv validate`` therefore checks every reference up front, and it
does so *statically*: test modules are parsed with :mod:`ast`, never imported.

One module per job:

* :mod:`.refs`: the reference syntax ``path/to/test_file.py::Name[::Name...][param-id]``
  (PV301, PV302), no file system;
* :mod:`.indexing`: a test file's AST reduced to a :class:`TestIndex`, with
  :mod:`.parametrize` computing the ids pytest gives parametrized tests;
* :mod:`.index`: the questions a reference asks of an index (PV304, PV305, PV306, PV307);
* :mod:`.serial`: the index as JSON, for the warm-run cache;
* :mod:`.resolver`: :class:`TestResolver`, which reads each file once (PV303) and puts it together.
"""

from __future__ import annotations

from pvcontracts.validate.testrefs.index import TestIndex
from pvcontracts.validate.testrefs.indexing import index_test_source
from pvcontracts.validate.testrefs.refs import EXPECTED_FORM, RefProblem, TestRef, parse_test_ref
from pvcontracts.validate.testrefs.resolver import TestResolver
from pvcontracts.validate.testrefs.serial import INDEX_FORMAT

__all__ = [
    "EXPECTED_FORM",
    "INDEX_FORMAT",
    "RefProblem",
    "TestIndex",
    "TestRef",
    "TestResolver",
    "index_test_source",
    "parse_test_ref",
]
