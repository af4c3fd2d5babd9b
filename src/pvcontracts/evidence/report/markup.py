"""Escaping evidence text for HTML, in one place: every page and chart of the report goes through :func:`esc`."""

from __future__ import annotations

from html import escape
from typing import Any

from pvcontracts.util.text import visible


def esc(value: Any) -> str:
    """Text safe in HTML content and attribute values; a bidi or zero-width character shows as its escape."""
    return escape(visible("" if value is None else str(value)), quote=True)
