"""`rekey advise`'s run on ports (rekey_cli.ports): the advisor (rekey.use_cases.advise) over
every account in rekey's scope, read as the person running it, and what the renderings show."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from rekey.domain.networks import Networks
from rekey.ports import KeyActivity
from rekey.use_cases.advise import AccountAdvice, KeyAdvice, advise_organization, advisor_of

from .ports import OperatorPorts

__all__ = ["AccountAdvice", "AdviceRun", "KeyAdvice", "run_advisor"]


@dataclass(frozen=True)
class AdviceRun:
    """One `rekey advise`: when, by whom, on what evidence, and what it found."""

    generated_at: datetime
    caller_arn: str
    networks: str
    accounts: Sequence[AccountAdvice]

    @property
    def keys(self) -> list[KeyAdvice]:
        return [k for a in self.accounts for k in a.keys]

    def counts(self) -> dict[str, int]:
        return dict(Counter(k.advice.recommendation.value for k in self.keys))

    @property
    def failed(self) -> list[AccountAdvice]:
        return [a for a in self.accounts if a.error]


def run_advisor(
    ports: OperatorPorts,
    networks: Networks,
    extra: Sequence[KeyActivity],
    *,
    history: bool,
    progress: Callable[[int, int], None] | None = None,
) -> AdviceRun:
    """The advice on every account: from each account's event history if `history`, from
    `extra` sources (a trail's bucket), and from the unused-access analyzer
    REKEY_ADVISOR_ANALYZER_ARN names (read with this shell's credentials) when it is set."""
    caller = ports.caller_arn()
    ports.act_for(caller)
    base = advisor_of(ports, networks, extra)
    advisor = base if history else replace(base, sources=tuple(extra))
    return AdviceRun(ports.now(), caller, networks.source, advise_organization(ports, advisor, progress))
