"""Write docs/codes.md from the code table: `python tools/gen_codes_doc.py` (a test fails when it is stale)."""

from __future__ import annotations

from pathlib import Path

from pvcontracts.validate.render import DOCS_PATH, codes_markdown


def main() -> None:
    target = Path(__file__).resolve().parents[1] / DOCS_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(codes_markdown(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
