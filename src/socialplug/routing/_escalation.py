"""
Escalation policies: who hears about an unacknowledged alert next, and when.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import timedelta

import attrs

from ..exceptions import ConfigurationError


__all__ = ["PRIORITIES", "Escalation", "Tier"]

#: The priorities a route or alert may carry, most urgent first.
PRIORITIES = ("P1", "P2", "P3", "P4")


def _check_after(_instance: object, _attribute: object, value: timedelta) -> None:
    if value <= timedelta(0):
        msg = f"an escalation tier waits a positive time, got {value}"
        raise ConfigurationError(msg)


@attrs.frozen(kw_only=True)
class Tier:
    """
    One step of an escalation policy.

    Attributes:
        after: How long after the incident opened, still unacknowledged, this tier hears.
        route: The route (and so the team and sinks) that receives the escalation.

    .. versionadded:: 0.1.0
    """

    after: timedelta = attrs.field(validator=_check_after)
    route: str


def _tiers(value: Iterable[Tier]) -> tuple[Tier, ...]:
    tiers = tuple(value)
    if not tiers:
        msg = "an escalation policy needs at least one tier"
        raise ConfigurationError(msg)
    for earlier, later in itertools.pairwise(tiers):
        if later.after <= earlier.after:
            msg = (
                f"escalation tiers must wait increasing times: {later.route!r} after "
                f"{later.after} follows {earlier.route!r} after {earlier.after}"
            )
            raise ConfigurationError(msg)
    return tiers


@attrs.frozen(init=False)
class Escalation:
    """
    When an incident is not acknowledged in time, tell the next tier.

    ::

        Escalation(
            Tier(after=timedelta(minutes=15), route="operations"),
            Tier(after=timedelta(minutes=45), route="management"),
        )

    Each tier is told once, in order; acknowledging the incident stops the policy.

    .. versionadded:: 0.1.0
    """

    tiers: tuple[Tier, ...] = attrs.field(converter=_tiers)

    def __init__(self, *tiers: Tier) -> None:
        self.__attrs_init__(tiers)
