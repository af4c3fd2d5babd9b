"""Read results a CI job already produced, instead of running the tests again.

Two formats, told apart by their first non-blank character:

* pytest's report log (``pytest --report-log=FILE``, the pytest-reportlog
  plugin): one JSON object per line; ``TestReport`` lines give each phase's
  outcome, duration, ``wasxfail`` and user properties, ``CollectReport``
  lines give collection errors and what was collected;
* JUnit XML (``pytest --junitxml=FILE``): one ``testcase`` per test, with a
  ``failure``, ``error`` or ``skipped`` child. JUnit knows less: it names a
  test by dotted class name, so the file is found by looking for it under the
  repository root, and an xpass reads as a pass.

Neither records deselected tests, so a bound test that is absent reads as
``not_collected``. Statistics recorded by the plugin's ``--pv-profile``
arrive as the ``pv_hypothesis`` user property in both formats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pvcontracts.evidence.results import USER_PROPERTY, Phase, RawResults, clip


class ResultsError(ValueError):
    """A --results file that cannot be read; the message says why."""


def read_results(path: Path, root: Path) -> RawResults:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        return read_junit(raw, root, str(path))
    if text.startswith("{"):
        return read_reportlog(text, str(path))
    raise ResultsError(f"{path} is neither a pytest report log (JSON lines) nor JUnit XML")


# --------------------------------------------------------------------------- report log


def _reportlog_message(longrepr: Any) -> str | None:
    if longrepr is None:
        return None
    if isinstance(longrepr, list) and len(longrepr) == 3:  # a skip: [path, line, reason]
        return clip(str(longrepr[2]))
    if isinstance(longrepr, dict):
        crash = longrepr.get("reprcrash")
        if isinstance(crash, dict) and crash.get("message"):
            return clip(str(crash["message"]))
        return clip(json.dumps(longrepr, sort_keys=True))
    return clip(str(longrepr))


def read_reportlog(text: str, display: str) -> RawResults:
    results = RawResults(source="reportlog")
    seen_any = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ResultsError(f"{display}:{number}: not a JSON line of a pytest report log") from None
        if not isinstance(obj, dict):
            raise ResultsError(f"{display}:{number}: not a JSON object")
        kind = obj.get("$report_type")
        if kind == "TestReport":
            seen_any = True
            nodeid = str(obj.get("nodeid", ""))
            when = obj.get("when") if obj.get("when") in ("setup", "call", "teardown") else "call"
            wasxfail = obj.get("wasxfail")
            node = results.node(nodeid)
            node.collected = True
            node.phases.setdefault(when, Phase(str(obj.get("outcome")), float(obj.get("duration") or 0.0),
                                               None if wasxfail is None else str(wasxfail),
                                               _reportlog_message(obj.get("longrepr"))))
            for prop in obj.get("user_properties") or ():
                if isinstance(prop, (list, tuple)) and len(prop) == 2 and prop[0] == USER_PROPERTY:
                    try:
                        node.hypothesis = json.loads(prop[1])
                    except (TypeError, ValueError):
                        pass
        elif kind == "CollectReport":
            seen_any = True
            if obj.get("outcome") == "failed":
                results.collect_errors.setdefault(str(obj.get("nodeid") or "."),
                                                  _reportlog_message(obj.get("longrepr")) or "collection failed")
            for child in obj.get("result") or ():
                if isinstance(child, dict) and isinstance(child.get("nodeid"), str) and "::" in child["nodeid"]:
                    results.node(child["nodeid"]).collected = True
        elif kind == "SessionFinish":
            seen_any = True
            status = obj.get("exitstatus")
            results.exitstatus = int(status) if isinstance(status, int) else None
        elif kind == "SessionStart":
            seen_any = True
    if not seen_any:
        raise ResultsError(f"{display} has no pytest report-log records ($report_type)")
    # Class and module collectors appear in "result" too; keep only what produced reports or is a test.
    for nodeid in [k for k, v in results.nodes.items() if not v.phases and not v.collected]:
        del results.nodes[nodeid]
    return results


# --------------------------------------------------------------------------- JUnit XML


def _nodeid_from_junit(classname: str, name: str, root: Path, file_attr: str | None) -> str:
    parts = [p for p in classname.split(".") if p] if classname else []
    if file_attr:
        path = file_attr.replace("\\", "/")
        stem = path[:-3].replace("/", ".") if path.endswith(".py") else None
        if stem and classname.startswith(stem):
            inner = [p for p in classname[len(stem):].split(".") if p]
            return "::".join([path, *inner, name])
    for k in range(len(parts), 0, -1):  # the longest dotted prefix that is a file under the root
        path = "/".join(parts[:k]) + ".py"
        if (root / path).is_file():
            return "::".join([path, *parts[k:], name])
    return "::".join(["/".join(parts) + ".py", name]) if parts else name


def read_junit(raw: bytes, root: Path, display: str) -> RawResults:
    import xml.etree.ElementTree as ET  # expat in Python >= 3.7.1 refuses entity-expansion bombs

    try:
        tree = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ResultsError(f"{display}: not well-formed XML: {exc}") from None
    if tree.tag not in ("testsuites", "testsuite"):
        raise ResultsError(f"{display}: not JUnit XML (root element <{tree.tag}>)")
    results = RawResults(source="junit")
    for case in tree.iter("testcase"):
        classname = case.get("classname") or ""
        name = case.get("name") or ""
        children = {child.tag: child for child in case}
        if not classname and "error" in children:  # a collection error: name is the dotted module path
            path = _nodeid_from_junit(name, "", root, case.get("file")).rstrip(":")
            results.collect_errors.setdefault(path, clip(children["error"].get("message")) or "collection failed")
            continue
        nodeid = _nodeid_from_junit(classname, name, root, case.get("file"))
        node = results.node(nodeid)
        node.collected = True
        try:
            duration = float(case.get("time") or 0.0)
        except ValueError:
            duration = 0.0
        error = children.get("error")
        if "failure" in children:
            node.phases["call"] = Phase("failed", duration, None, clip(children["failure"].get("message")))
        elif "skipped" in children:
            skipped = children["skipped"]
            xfail = skipped.get("type") == "pytest.xfail"
            message = clip(skipped.get("message"))
            node.phases["call"] = Phase("skipped", duration, (message or "") if xfail else None, message)
        elif error is not None:
            message = clip(error.get("message"))
            node.phases["setup"] = Phase("failed", duration, None, message)
        else:
            node.phases["call"] = Phase("passed", duration, None, None)
        if error is not None and "teardown" in (error.get("message") or "") and "setup" not in node.phases:
            node.phases["teardown"] = Phase("failed", 0.0, None, clip(error.get("message")))
        for prop in case.iter("property"):
            if prop.get("name") == USER_PROPERTY:
                try:
                    node.hypothesis = json.loads(prop.get("value") or "")
                except ValueError:
                    pass
    return results
