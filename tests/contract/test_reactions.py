"""The reaction table is the one home of what on_violation means: the schema and the validator follow it."""

from __future__ import annotations

import json
from pathlib import Path

from pvcontracts.contract.reactions import REACTIONS, reaction_of

SRC = Path(__file__).resolve().parents[2] / "src" / "pvcontracts"


def _enum(schema: dict, path: list[str]) -> list[str]:
    node = schema
    for key in path:
        node = node[key]
    return node["enum"]


def test_the_contract_schema_lists_exactly_the_table_s_actions() -> None:
    schema = json.loads((SRC / "contract" / "schemas" / "contract-v1.schema.json").read_text(encoding="utf-8"))
    assert sorted(_enum(schema, ["$defs", "invariant", "properties", "on_violation"])) == sorted(REACTIONS)


def test_the_evidence_schema_accepts_every_action() -> None:
    schema = json.loads((SRC / "evidence" / "schemas" / "evidence-v2.schema.json").read_text(encoding="utf-8"))
    assert sorted(_enum(schema, ["$defs", "invariant", "properties", "on_violation"])) == sorted(REACTIONS)


def test_each_action_means_one_thing() -> None:
    assert reaction_of("abort").raises and not reaction_of("abort").prevents_update
    assert reaction_of("warn").warns and not reaction_of("warn").raises
    record = reaction_of("record")
    assert not (record.raises or record.warns or record.prevents_update or record.urgent)
    skip = reaction_of("skip_step")
    assert skip.prevents_update and skip.before_update and skip.warns and not skip.raises
    assert skip.boundaries == ("step_end",)
    assert reaction_of(None) is REACTIONS["abort"] and reaction_of("nonsense") is REACTIONS["abort"]
