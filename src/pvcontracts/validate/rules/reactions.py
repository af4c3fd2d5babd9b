"""An ``on_violation`` action is legal only at the boundaries its row of the reaction table names."""

from __future__ import annotations

from typing import Iterator

from pvcontracts.contract.model import Contract
from pvcontracts.contract.reactions import REACTIONS
from pvcontracts.diagnostic import Diagnostic


def check_reaction_boundaries(contract: Contract) -> Iterator[Diagnostic]:
    """skip_step at epoch_end would skip nothing: there is no optimizer update of an epoch to withhold."""
    for inv in contract.invariants:
        reaction = REACTIONS.get(inv.on_violation)
        if reaction is None or reaction.boundaries is None or inv.at in reaction.boundaries:
            continue
        legal = " or ".join(reaction.boundaries)
        yield contract.diag("PV414", inv.path + ("on_violation",),
                            f"{inv.id} is checked at {inv.at}, but on_violation {inv.on_violation} acts only at "
                            f"{legal}: there is no optimizer step of {inv.at} to skip",
                            f"check it at {legal}, or use abort, warn or record at {inv.at}")
