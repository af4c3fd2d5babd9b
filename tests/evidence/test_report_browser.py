"""The HTML report in a real browser: Debian's chromium, headless, driven over the DevTools protocol.

The driver talks to chromium through ``--remote-debugging-pipe`` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), so it needs no websocket
library, no port and no browser download. Each test opens the page the real
``pv report`` wrote and checks what an auditor would see: it renders, every
gate row is there, the filters work (a ``change`` event on the status select, as
Playwright's ``select_option`` sends it, and real mouse clicks and typing
through ``Input.*``), a ``<script>`` in contract text stays text, and the page
fetches nothing. The project's evidence includes two training runs' ledgers,
written by a real Monitor: one that violated a ship-blocking invariant at step
57 and one clean; the tests find both runs, their charts, and the violation's
marker at its step through the DOM, click it, and write a screenshot of the
runs to the test's directory (and under ``out/`` when ``PV_ARTIFACTS`` is set).
``pv plot`` of the violated run's ledger gets the same checks.

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
  - id: INV-OTH-003
    title: The learning rate follows its warmup
    at: step_end
    check: "abs(lr - expected_lr) <= 1e-9"
    let:
      expected_lr: "0.1 * where(step < 10, (step + 1) / 10, 1)"
    on_violation: record
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


VIOLATION_STEP = 57


def write_ledger(contracts: Path, ledger: Path, *, spike_at: int | None) -> str:
    """A ledger a real Monitor wrote over the project's contracts: 100 steps, or an abort at the grad-norm spike.

    Loss and grad norm are tensors (checked at the sync points, their curves riding with the flags); the LR
    is the host number INV-OTH-003's expected_lr says it should be. Returns the run id.
    """
    import torch

    from pvcontracts.runtime import ContractViolation, Monitor

    monitor = Monitor.from_contracts(contracts, ledger=ledger, sync_every=10)
    try:
        for step in range(100):
            loss = torch.tensor(2.0 * 0.97 ** step + 0.05 * (step % 3))
            grad_norm = torch.tensor(250.0 if step == spike_at else 5.0 * 0.98 ** step)
            lr = 0.1 * (min(step + 1, 10) / 10)
            monitor.step_end(loss=loss, grad_norm=grad_norm, lr=lr)
        monitor.run_end()
    except ContractViolation as exc:
        assert (exc.invariant_id, exc.step) == ("INV-OTH-001", spike_at)
    monitor.close()
    return monitor.run_id


def artifact(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write a test artifact to the test's directory, and under out/ (or $PV_ARTIFACTS, a directory) when asked."""
    path = tmp_path / name
    path.write_bytes(data)
    wanted = os.environ.get("PV_ARTIFACTS")
    if wanted:
        target = Path(wanted) if wanted not in ("1", "true", "yes") else Path(__file__).resolve().parents[2] / "out"
        target.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    return path


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


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
        # Every CSP violation the page causes, as the page itself sees it (DevTools' script, not the page's).
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": "window.__csp = []; document.addEventListener("
                  "'securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"})
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

    def screenshot(self, selector: str | None = None) -> bytes:
        """The viewport, or the whole of one element however tall (scrolled into the capture)."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            x, y, w, h = self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                                 ".getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, r.height]; })()")
            params.update(clip={"x": x, "y": y, "width": w, "height": h, "scale": 1}, captureBeyondViewport=True)
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def problems(self) -> list[Any]:
        """Script errors, console errors and warnings (CSP refusals among them), and CSP violation events."""
        return (self.events("Runtime.exceptionThrown")
                + [e for e in self.events("Log.entryAdded") if e["entry"]["level"] in ("error", "warning")]
                + [e for e in self.events("Runtime.consoleAPICalled") if e["type"] in ("error", "warning")]
                + (self.js("window.__csp") or []))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, evproject_class) -> dict[str, Any]:
    """A project with two contracts and one failed gate, checked with two runs' ledgers and reported.

    The run ``bad`` violated the ship-blocking INV-OTH-001 at step 57 (its grad norm spiked) and aborted; the
    run ``clean`` went its 100 steps and reached run_end.
    """
    root = tmp_path_factory.mktemp("browser") / "repo"
    root.mkdir()
    project = evproject_class(root)
    project.write("contracts/other-v1.yaml", OTHER_CONTRACT)
    project.write("tests/test_other.py", OTHER_TESTS)
    runs = {"bad": write_ledger(root / "contracts", root / "runs" / "bad" / "ledger.jsonl", spike_at=VIOLATION_STEP),
            "clean": write_ledger(root / "contracts", root / "runs" / "clean" / "ledger.jsonl", spike_at=None)}
    done = project.check("--ledger", "runs/bad/ledger.jsonl", "--ledger", "runs/clean/ledger.jsonl")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error[PV641]: runtime evidence: run " + runs["bad"][:12] + " violated INV-OTH-001 1 time" in done.stdout
    done = project.pv("report", "out/evidence.json", "--html", "out/report.html")
    assert done.returncode == 0, done.stdout + done.stderr
    done = project.pv("plot", "runs/bad/ledger.jsonl", "-o", "out/plot.html")
    assert done.returncode == 0, done.stdout + done.stderr
    return {"root": root, "runs": runs}


@pytest.fixture(scope="module")
def report_url(project: dict[str, Any]) -> str:
    """file:// URL of the page `pv report` wrote for the project."""
    return (project["root"] / "out" / "report.html").as_uri()


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
    assert page.problems() == []  # no script error and no CSP violation
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


# --------------------------------------------------------------------------- training runs


MARKER = """(() => {{
  const article = document.getElementById({anchor});
  const svg = article.querySelector('svg.chart[data-metric="{metric}"]');
  const d = svg.dataset;
  return Array.from(svg.querySelectorAll('a.marker')).map(a => ({{
    step: Number(a.dataset.step), invariant: a.dataset.invariant, href: a.getAttribute('href'),
    x: Number(a.querySelector('line').getAttribute('x1')), cy: Number(a.querySelector('circle').getAttribute('cy')),
    xAt: Number(d.left) + (Number(a.dataset.step) - Number(d.x0)) / (Number(d.x1) - Number(d.x0)) * Number(d.width),
    yAt: v => 0, top: Number(d.top), height: Number(d.height), y0: Number(d.y0), y1: Number(d.y1)}}));
}})()"""


def markers(page: Page, anchor: str, metric: str) -> list[dict[str, Any]]:
    return page.js(MARKER.format(anchor=json.dumps(anchor), metric=metric))


def y_of(marker: dict[str, Any], value: float) -> float:
    return marker["top"] + marker["height"] - (value - marker["y0"]) / (marker["y1"] - marker["y0"]) * marker["height"]


def run_anchor(run_id: str) -> str:
    return "run-" + run_id[:24]


def test_both_runs_are_rendered_with_their_verdicts(page: Page, project: dict[str, Any]) -> None:
    bad, clean = (run_anchor(project["runs"][k]) for k in ("bad", "clean"))
    assert page.js("Array.from(document.querySelectorAll('article.run')).map(a => a.id)") == [bad, clean]
    text = page.js(f"document.getElementById({json.dumps(bad)}).innerText")
    assert "violated a ship-blocking invariant" in text and "never reached run_end" in text
    assert page.js(f"document.getElementById({json.dumps(clean)}).innerText").count("no violation") == 1
    headline = page.js("document.getElementById('verdict').innerText")
    assert (f"Not ready: a training run violated 1 ship-blocking invariant (INV-OTH-001 in run "
            f"{project['runs']['bad'][:12]} at step_end, step {VIOLATION_STEP}, epoch 0;") in headline
    # Per invariant: enforced, how often it held, and the violation's count, in the bad run.
    row = page.js(f"Array.from(document.querySelectorAll('#{bad} table.invariants tr'))"
                  ".find(r => r.innerText.includes('INV-OTH-001')).innerText")
    assert row.split("\t")[1:7] == ["yes", "violated", "60", "60", "59", "1"], row
    # Each chart: loss, LR with the expected LR of INV-OTH-003, grad norm; labelled axes and a legend.
    metrics = page.js(f"Array.from(document.querySelectorAll('#{clean} svg.chart')).map(s => s.dataset.metric)")
    assert metrics == ["loss", "lr", "grad_norm"]
    assert page.js(f"document.querySelectorAll('#{clean} svg.chart[data-metric=\"lr\"] polyline.expected').length") >= 1
    labels = page.js(f"Array.from(document.querySelectorAll('#{clean} svg.chart text.axis-label')).map(t => t.textContent)")
    assert labels.count("step (optimizer steps)") == 3 and "learning rate (no unit)" in labels
    assert page.js(f"document.querySelectorAll('#{clean} a.marker').length") == 0  # a clean run has no marker
    assert page.problems() == []


def test_the_violation_is_marked_at_its_step_and_links_to_its_details(page: Page, project: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    bad = run_anchor(project["runs"]["bad"])
    [marker] = markers(page, bad, "grad_norm")
    assert (marker["step"], marker["invariant"]) == (VIOLATION_STEP, "INV-OTH-001")
    assert abs(marker["x"] - marker["xAt"]) < 0.11  # drawn where step 57 is on the x axis
    assert abs(marker["cy"] - y_of(marker, 250.0)) < 0.11  # at the value the violation recorded
    # The same violation is marked on every chart of the run, at the same step.
    assert [m["step"] for m in markers(page, bad, "loss")] == [VIOLATION_STEP]
    row = page.js(f"document.querySelector({json.dumps(marker['href'])}).innerText")
    assert "INV-OTH-001" in row and str(VIOLATION_STEP) in row and "grad_norm = 250" in row
    assert "grad_norm < 100" in row  # the expression
    page.click(f"#{bad} svg.chart[data-metric='grad_norm'] a.marker circle")  # a real click on the marker
    assert page.js("location.hash") == marker["href"]
    assert page.js("document.querySelector(':target').id") == marker["href"][1:]
    shot = page.screenshot(f"#{bad}")
    width, height = png_size(shot)
    assert width > 900 and height > 900
    artifact(tmp_path, "report-runs.png", shot)
    assert page.problems() == []


def test_pv_plot_writes_the_same_page_for_one_ledger(browser: Browser, project: dict[str, Any],
                                                     tmp_path: Path) -> None:
    page = Page(browser, (project["root"] / "out" / "plot.html").as_uri())
    bad = run_anchor(project["runs"]["bad"])
    assert page.js("Array.from(document.querySelectorAll('article.run')).map(a => a.id)") == [bad]
    assert "A ship-blocking invariant was violated" in page.js("document.getElementById('verdict').innerText")
    [marker] = markers(page, bad, "grad_norm")
    assert marker["step"] == VIOLATION_STEP and abs(marker["x"] - marker["xAt"]) < 0.11
    requests = [e["request"]["url"] for e in page.events("Network.requestWillBeSent")]
    assert requests == [(project["root"] / "out" / "plot.html").as_uri()]
    assert page.problems() == []
    artifact(tmp_path, "plot.png", page.screenshot(f"#{bad}"))
    # The harness sees a CSP refusal when there is one: an inline style attribute is one.
    page.js("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    assert any("style-src" in str(p) for p in page.problems())
