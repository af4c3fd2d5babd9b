"""Text from elsewhere is shown as it is: invisible and reordering characters spelt out, any integer printable."""

from __future__ import annotations

import pytest

from pvcontracts.evidence.report import markdown
from pvcontracts.evidence.report.html import _e as html_text
from pvcontracts.util.text import int_text, visible

TROJAN = "test_cap\u202e)lanif(\u2066 ok"


@pytest.mark.parametrize("raw, shown", [
    (TROJAN, "test_cap\\u202e)lanif(\\u2066 ok"),
    ("a\u200bb\ufeffc", "a\\u200bb\\ufeffc"),               # zero-width space, byte-order mark
    ("\x1b[2Jcleared", "\\x1b[2Jcleared"),                   # a terminal escape sequence
    ("line\u2028break", "line\\u2028break"),                 # a line separator some viewers honour
    ("tabs\tand\nnewlines stay", "tabs\tand\nnewlines stay"),
    ("é, 日本, emoji \U0001f600 stay", "é, 日本, emoji \U0001f600 stay"),
    ("\U000e0041 tag", "\\U000e0041 tag"),                   # an invisible tag character
])
def test_visible(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_reports_render_bidi_controls_from_test_names_visibly() -> None:
    for rendered in (markdown.text(TROJAN), markdown.code(TROJAN), markdown.block(TROJAN), html_text(TROJAN)):
        assert "\u202e" not in rendered and "\u2066" not in rendered
        assert "202e" in rendered


def test_int_text_prints_any_integer() -> None:
    assert int_text(12345) == "12345"
    assert int_text(-(10 ** 500)) == "-1" + "0" * 500
    assert int_text(10 ** 100_000) == "<an integer of about 100001 digits>"
    assert int_text(-(7 ** 40_000)).startswith("-<an integer of about 3380")


def test_a_violation_message_and_its_ledger_record_survive_a_huge_integer() -> None:
    import json

    from pvcontracts.runtime.violation import Violation

    v = Violation("INV-X-001", "t", "c", "1.0.0", "epoch_end", None, 0, "x < 0", {"x": 10 ** 5000})
    assert "x = <an integer of about 5001 digits>" in v.message()
    assert json.loads(json.dumps(v.to_record()))["values"]["x"] == "<an integer of about 5001 digits>"
