"""Text from elsewhere, shown so that what is displayed is what is there.

Test names, failure messages and metric values reach reports from outside the
contracts, where no validator looked at them. A bidirectional control
(U+202E and friends, the Trojan Source characters) would reorder what a reader
sees, a zero-width character would hide, an escape sequence would drive the
terminal: :func:`visible` spells each such character out instead (``\\u202e``).
And an integer can be too long for ``str()`` (Python refuses past 4,300
digits): :func:`int_text` always returns something to print.
"""

from __future__ import annotations

import math
import re
import unicodedata

__all__ = ["int_text", "plural", "unique_anchor", "visible"]

# Fast path: nothing but printable ASCII, tabs and newlines needs no look at each character.
_PLAIN = re.compile(r"[\t\n\x20-\x7e]*\Z")
_KEEP = {"\t", "\n"}
_HIDING = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, format (bidi, zero-width), surrogates, unassigned


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def visible(text: str) -> str:
    """``text`` with every control, format, bidirectional or invisible character written as its escape.

    Tabs and newlines stay (renderers decide what to do with them); everything
    printable, any script, stays as it is.
    """
    if _PLAIN.match(text):
        return text
    return "".join(_escape(ch) if ch not in _KEEP and unicodedata.category(ch) in _HIDING else ch for ch in text)


_MAX_DIGITS = 1000  # more than anyone reads; far below Python's limit for int -> str


def int_text(value: int) -> str:
    """An integer as text, whatever its size: exact up to 1,000 digits, then its sign and magnitude."""
    if value.bit_length() <= _MAX_DIGITS * 3:  # 3 bits per digit under-counts: fewer than 1,000 digits
        return str(value)
    digits = int(value.bit_length() * math.log10(2)) + 1
    return f"{'-' if value < 0 else ''}<an integer of about {digits} digits>"


def plural(count: int, word: str) -> str:
    """``1 gate``, ``2 gates``: the count and its noun, as every report writes them."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def unique_anchor(prefix: str, text: str, taken: set[str]) -> str:
    """``prefix`` and ``text``'s safe characters (ids are user input), made unique in ``taken``, which keeps it."""
    base = prefix + (re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x")
    anchor, n = base, 2
    while anchor in taken:
        anchor, n = f"{base}-{n}", n + 1
    taken.add(anchor)
    return anchor
