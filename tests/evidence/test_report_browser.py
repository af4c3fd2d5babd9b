"""The HTML report in a real browser: Debian's chromium, headless, driven over the DevTools protocol.

The driver talks to chromium through ``--remote-debugging-pipe`` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), so it needs no websocket
library, no port and no browser download. Each test opens the page the real
``pv report`` wrote and checks what an auditor would see: it renders, every
gate row is there, the filters work (a ``change`` event on the status select, as
Playwright's ``select_option`` sends it, and real mouse clicks and typing
through ``Input.*``), a ``<script>`` in contract text stays text, and the page
fetches nothing.

chromium comes from ``.ci/run`` (``apt-get install -y chromium``). When it is
absent, the fixture tries that install itself (as root, with apt-get); only when
that is impossible does the test skip, and never under ``PV_REQUIRE_BROWSER=1``,
which ``.ci/run`` sets.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe")
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

OTHER_CONTRACT = """\
schema_version: 1
id: other-v1
version: 1.3.0
status: active
title: Another contract
changelog:
  - {version: 1.3.0, date: 2026-05-01, summary: "Second gate added"}
invariants:
  - id: INV-OTH-001
    title: "<script>window.__pwned = 1</script> is only a title"
    at: step_end
    check: "grad_norm < 100"
    on_violation: abort
  - id: INV-OTH-002
    title: Learning rate is positive
    at: step_end
    check: "lr > 0"
    on_violation: abort
gates:
  - id: GATE-OTH-001
    title: Gradients stay small
    invariants: [INV-OTH-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_other.py::test_small]
  - id: GATE-OTH-002
    title: Learning rate positive
    invariants: [INV-OTH-002]
    ship_blocking: true
    evidence_discharged_by: [tests/test_other.py::test_positive]
"""

OTHER_TESTS = '''\
from pathlib import Path

import pytest

from pvcontracts.contract.compiled import compile_invariant
from pvcontracts.contract.loading import load_contract_file


def invariant(index):
    contract = load_contract_file(Path(__file__).resolve().parents[1] / "contracts" / "other-v1.yaml").contract
    return compile_invariant(contract, contract.invariants[index])


@pytest.mark.discharges(gate="GATE-OTH-001")
def test_small():
    assert 250 < 100


@pytest.mark.discharges(gate="GATE-OTH-002")
def test_positive():
    assert invariant(1).evaluate({"lr": 1e-3}).holds is True
    assert invariant(1).evaluate({"lr": 0.0}).holds is False
'''


# --------------------------------------------------------------------------- finding (or installing) chromium


def _find() -> str | None:
    named = os.environ.get("PV_CHROMIUM")
    for candidate in ([named] if named else []) + [shutil.which(n) for n in NAMES]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _install() -> str:
    """Try Debian's chromium the way .ci/run does; return why it did not work (empty when it did)."""
    if shutil.which("apt-get") is None:
        return "there is no apt-get on this machine"
    if os.geteuid() != 0:
        return "installing it needs root (apt-get install -y chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = ""
    for cmd in (["apt-get", "install", "-y", "-q", "chromium"], ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd)} failed: {exc}"
        log = (done.stdout + done.stderr).strip()[-300:]
        if cmd[1] == "install" and done.returncode == 0 and _find():
            return ""
    return f"apt-get install -y chromium failed: {log}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _find()
    if path is None:
        why = _install()
        path = _find()
        if path is None:
            message = (f"chromium is not installed and cannot be installed here ({why}); "
                       "the HTML report's browser test needs it (.ci/run installs it)")
            if os.environ.get("PV_REQUIRE_BROWSER"):
                pytest.fail(message)
            pytest.skip(message)
    return path


# --------------------------------------------------------------------------- the DevTools protocol over a pipe


class Browser:
    """One headless chromium; ``send`` a DevTools command and wait for its answer, keeping events."""

    def __init__(self, path: str, workdir: Path) -> None:
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()

        def fds() -> None:  # in the child, before exec: chromium reads commands on fd 3, answers on fd 4
            a, b = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10), fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.log_path = workdir / "chromium.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [path, *FLAGS, f"--user-data-dir={workdir / 'profile'}", "about:blank"], stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=self._log, close_fds=False, preexec_fn=fds)
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def _tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError(f"chromium did not answer; its log: {self._tail()}")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited; its log: {self._tail()}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        while True:
            event = self._message(deadline)
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its handle
            self.proc.wait()
        for fd in (self._out, self._in):
            os.close(fd)
        self._log.close()


class Page:
    """A tab showing one URL; ``js`` evaluates an expression in it and returns its value."""

    def __init__(self, browser: Browser, url: str, width: int = 1280, height: int = 900) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        self.send("Page.navigate", {"url": url})
        browser.wait_for("Page.loadEventFired", self.session)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def events(self, *methods: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events if e.get("sessionId") == self.session
                and e.get("method") in methods]

    def click(self, selector: str) -> None:
        """A real left click at the element's centre, through the input pipeline."""
        x, y = self.js(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); "
                       "el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect(); "
                       "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type(self, selector: str, text: str) -> None:
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def select(self, selector: str, value: str) -> None:
        """Choose an option and fire input and change, as a user's choice (and Playwright's select_option) does."""
        self.js(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); el.value = {json.dumps(value)}; "
                "el.dispatchEvent(new Event('input', {bubbles: true})); "
                "el.dispatchEvent(new Event('change', {bubbles: true})); })()")

    def visible_gates(self) -> list[str]:
        return self.js("Array.from(document.querySelectorAll('tr.gate-row'))"
                       ".filter(r => r.getClientRects().length > 0).map(r => r.dataset.detail.slice(2))")

    def visible_details(self) -> list[str]:
        return self.js("Array.from(document.querySelectorAll('article.gate'))"
                       ".filter(a => a.getClientRects().length > 0).map(a => a.id.slice(2))")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory, evproject_class) -> str:
    """file:// URL of the page `pv report` wrote for a project with two contracts and one failed gate."""
    root = tmp_path_factory.mktemp("browser") / "repo"
    root.mkdir()
    project = evproject_class(root)
    project.write("contracts/other-v1.yaml", OTHER_CONTRACT)
    project.write("tests/test_other.py", OTHER_TESTS)
    done = project.check()
    assert done.returncode == 1, done.stdout + done.stderr
    done = project.pv("report", "out/evidence.json", "--html", "out/report.html")
    assert done.returncode == 0, done.stdout + done.stderr
    return (root / "out" / "report.html").as_uri()


@pytest.fixture(scope="module")
def browser(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(chromium_path, tmp_path_factory.mktemp("chromium"))
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser: Browser, report_url: str) -> Page:
    return Page(browser, report_url)


ALL = ["GATE-DEMO-001", "GATE-OTH-001", "GATE-OTH-002"]


# --------------------------------------------------------------------------- tests


def test_the_page_renders_every_gate_and_fetches_nothing(page: Page, report_url: str) -> None:
    assert page.js("document.readyState") == "complete"
    assert page.js("document.title").startswith("Gate evidence: not ready")
    assert sorted(page.visible_gates()) == ALL
    assert sorted(page.visible_details()) == ALL
    assert page.js("document.getElementById('filters').getClientRects().length > 0")  # the script ran
    assert page.js("document.getElementById('filter-count').textContent") == "3 of 3 gates shown"
    statuses = page.js("Object.fromEntries(Array.from(document.querySelectorAll('tr.gate-row'))"
                       ".map(r => [r.dataset.detail.slice(2), r.querySelector('.badge').textContent]))")
    assert statuses == {"GATE-DEMO-001": "\u2713 discharged", "GATE-OTH-001": "\u2717 failed",
                        "GATE-OTH-002": "\u2713 discharged"}
    assert page.js("document.documentElement.scrollWidth") <= 1280  # nothing spills sideways
    assert page.js("(() => { const t = document.getElementById('gate-table').parentElement; "
                   "return t.scrollWidth <= t.clientWidth; })()")  # the gate table fits without scrolling
    requests = [e["request"]["url"] for e in page.events("Network.requestWillBeSent")]
    assert requests == [report_url]
    problems = page.events("Runtime.exceptionThrown") + [e for e in page.events("Log.entryAdded")
                                                         if e["entry"]["level"] in ("error", "warning")]
    assert problems == []  # no script error and no CSP violation
    assert page.screenshot()[:8] == b"\x89PNG\r\n\x1a\n"


def test_choosing_status_failed_hides_the_discharged_rows(page: Page) -> None:
    page.select("#filter-status", "failed")
    assert page.visible_gates() == ["GATE-OTH-001"]
    assert page.visible_details() == ["GATE-OTH-001"]
    assert page.js("document.getElementById('filter-count').textContent") == "1 of 3 gates shown"
    assert page.js("location.hash") == "#status=failed"  # a link to this view
    page.click("#filter-reset")
    assert sorted(page.visible_gates()) == ALL


def test_clicking_a_summary_count_filters_by_that_status(page: Page) -> None:
    page.click("button.card.s-discharged")
    assert sorted(page.visible_gates()) == ["GATE-DEMO-001", "GATE-OTH-002"]
    assert page.js("document.getElementById('filter-status').value") == "discharged"
    assert page.js("document.querySelector('button.card.s-discharged').getAttribute('aria-pressed')") == "true"
    page.click("button.card.s-discharged")  # a second click clears it
    assert sorted(page.visible_gates()) == ALL


def test_the_contract_filter_and_the_search_box(page: Page) -> None:
    page.select("#filter-contract", "other-v1")
    assert sorted(page.visible_gates()) == ["GATE-OTH-001", "GATE-OTH-002"]
    page.select("#filter-contract", "")
    page.type("#filter-text", "test_positive")  # real keystrokes: a bound test's name finds its gate
    assert page.visible_gates() == ["GATE-OTH-002"]
    page.select("#filter-status", "failed")
    assert page.visible_gates() == []
    assert page.js("document.getElementById('no-match').getClientRects().length > 0")


def test_a_link_with_a_filter_opens_filtered(browser: Browser, report_url: str) -> None:
    page = Page(browser, report_url + "#status=discharged&contract=other-v1")
    assert page.visible_gates() == ["GATE-OTH-002"]
    assert page.js("[document.getElementById('filter-status').value, "
                   "document.getElementById('filter-contract').value]") == ["discharged", "other-v1"]


def test_a_script_in_contract_text_is_shown_not_run(page: Page) -> None:
    assert page.js("typeof window.__pwned") == "undefined"
    assert page.js("document.scripts.length") == 1
    assert "<script>window.__pwned = 1</script> is only a title" in page.js("document.body.innerText")
