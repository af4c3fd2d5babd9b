"""What a violation says: the invariant, contract and version, where, the expression, and every value."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from pvcontracts.errors import PvError
from pvcontracts.runtime import ContractViolation, MissingMetricError, MissingParamError, Violation
from pvcontracts.runtime.violation import format_value, plain_value


def make(**overrides) -> Violation:
    fields = dict(invariant_id="INV-X-001", title="t", contract_id="x-v1", contract_version="1.0.0",
                  boundary="step_end", step=7, epoch=1, expression="loss < cap", values={"loss": 3.0, "cap": 2.0},
                  name_order=("loss", "cap"))
    fields.update(overrides)
    return Violation(**fields)


class TestFormatValue:
    @pytest.mark.parametrize("value, text", [
        (21.649751, "21.65"), (25.0, "25.0"), (1e-7, "1e-07"), (123456.0, "123500.0"), (3, "3"),
        (2**70, str(2**70)), (True, "true"), (False, "false"), (None, "none"),
        (float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "-inf"),
    ])
    def test_host_values(self, value, text) -> None:
        assert format_value(value) == text

    def test_scalar_tensors_read_as_numbers(self) -> None:
        assert format_value(torch.tensor(21.649751)) == "21.65"
        assert format_value(torch.tensor([True])) == "true"
        assert format_value(torch.tensor(5, dtype=torch.int64)) == "5"

    def test_larger_tensors_are_summarised_never_dumped(self) -> None:
        t = torch.arange(10_000, dtype=torch.float32)
        t[3] = float("nan")
        assert format_value(t) == "tensor(shape=(10000,), dtype=float32, min=0.0, max=9999.0, nan=1)"
        assert format_value(torch.full((2, 2), float("nan"))) == \
            "tensor(shape=(2, 2), dtype=float32, min=nan, max=nan, nan=4)"
        assert format_value(torch.tensor([3, 1, 2])) == "tensor(shape=(3,), dtype=int64, min=1, max=3, nan=0)"

    def test_other_values_are_size_capped(self) -> None:
        assert len(format_value("x" * 10_000)) < 100
        assert len(format_value(list(range(10_000)))) < 100

    def test_plain_values_are_json_friendly(self) -> None:
        assert plain_value(torch.tensor(2.5)) == 2.5
        assert plain_value(float("nan")) == "nan"
        assert plain_value(torch.ones(3)).startswith("tensor(shape=(3,)")
        json.dumps([plain_value(v) for v in (1, 2.0, True, None, "s", torch.tensor(1), [1, 2])])


class TestMessage:
    def test_names_in_expression_order_then_the_rest_sorted(self) -> None:
        v = make(values={"cap": 2.0, "zeta": 1, "loss": 3.0, "alpha": 0}, name_order=("loss", "cap"))
        assert v.message() == ("INV-X-001 (x-v1 1.0.0) at step_end, step 7, epoch 1: loss < cap failed: "
                               "loss = 3.0, cap = 2.0, alpha = 0, zeta = 1")

    def test_epoch_boundaries_name_no_step(self) -> None:
        v = make(boundary="epoch_end", step=120)
        assert v.message().startswith("INV-X-001 (x-v1 1.0.0) at epoch_end, epoch 1: ")

    def test_lets_show_their_text_inputs_and_regime(self) -> None:
        v = make(expression="val_loss <= cap", values={"val_loss": 25.0, "cap": 21.649751},
                 name_order=("val_loss", "cap"), let_texts={"cap": "2.0 * ln(vocab_size)"},
                 let_inputs={"cap": {"vocab_size": 50257}}, regime="from_scratch", regime_keyed=frozenset({"cap"}))
        assert v.message().endswith("val_loss = 25.0, cap = 21.65 (2.0 * ln(vocab_size), vocab_size = 50257, "
                                    "regime from_scratch)")

    def test_a_literal_let_shows_only_its_value(self) -> None:
        v = make(values={"loss": 3.0, "cap": 2.0}, let_texts={"cap": "2.0"}, let_inputs={"cap": {}})
        assert v.message().endswith("loss = 3.0, cap = 2.0")

    def test_same_violation_same_message(self) -> None:
        a = make(values={"b": 1.0, "a": 2.0, "loss": 3.0, "cap": 4.0})
        b = make(values={"cap": 4.0, "loss": 3.0, "a": 2.0, "b": 1.0})
        assert a.message() == b.message()

    def test_record_is_json(self) -> None:
        record = make(values={"loss": torch.tensor(float("nan")), "cap": 2.0}).to_record()
        assert json.loads(json.dumps(record, allow_nan=False))["values"] == {"cap": 2.0, "loss": "nan"}
        assert record["message"].endswith("loss = nan, cap = 2.0")


class TestExceptions:
    def test_contract_violation_carries_the_details(self) -> None:
        v = make()
        err = ContractViolation(v)
        assert isinstance(err, PvError)
        assert str(err) == v.message()
        assert (err.invariant_id, err.contract_id, err.contract_version) == ("INV-X-001", "x-v1", "1.0.0")
        assert (err.boundary, err.step, err.epoch, err.expression) == ("step_end", 7, 1, "loss < cap")
        assert err.values == {"loss": 3.0, "cap": 2.0}
        assert err.violation is v

    def test_a_violation_pickles(self) -> None:
        # Ranks exchange violations with broadcast_object_list, which pickles them.
        v = make(values={"loss": 3.0, "cap": 2.0}, regime_keyed=frozenset({"cap"}))
        assert pickle.loads(pickle.dumps(v)).message() == v.message()

    def test_missing_metric_names_it_and_says_what_to_do(self) -> None:
        err = MissingMetricError("INV-X-001", "epoch_end", ("val_loss",), "pass it to epoch_end()")
        assert str(err) == ("INV-X-001 at epoch_end needs 'val_loss', which epoch_end() was not given; "
                            "pass it to epoch_end()")
        assert err.names == ("val_loss",)

    def test_missing_params_lists_each_with_its_invariants(self) -> None:
        err = MissingParamError({"total_steps": ["INV-B", "INV-A", "INV-A"], "peak_lr": ["INV-A"]})
        assert isinstance(err, MissingMetricError)
        assert str(err) == ("the contracts need params that were not given: 'peak_lr' (needed by INV-A); "
                            "'total_steps' (needed by INV-A, INV-B); pass params={...} to the Monitor, "
                            "or select= fewer contracts")
        assert err.names == ("peak_lr", "total_steps")
