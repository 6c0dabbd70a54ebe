"""Two workers on the same user at once.

The work queue's FIFO group (account/user) keeps one user's items in order, but a second
worker can still meet the first: an operator's `rekey run` beside the deployed Lambdas, a
manual request, a redelivery racing a slow invocation. Whatever the interleaving: no third
key, no LimitExceeded (or any other error) surfacing as a failure, no lost secret."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest

from rekey.domain.errors import RekeyError
from rekey.use_cases.work import WorkOutcome
from tests.conftest import Org
from tests.faults import Faults
from tests.invariants import guard_calls
from tests.reliability import summary
from tests.reliability.lab import Lab
from tests.reliability.phases import PHASES, Phase

ROTATIONS = [p for p in PHASES if p.name in ("first-rotation", "second-rotation")]


def _replaced(named: dict[str, str]) -> str:
    return named.get("new", named["human"])  # the newest active key, which the rotation replaces


@dataclass
class Race:
    lab: Lab
    named: dict[str, str]
    outcomes: list[WorkOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def worker(self) -> tuple[Faults, object]:
        """A second worker: its own runtime and injector, its key writes checked as well."""
        faults = Faults(instant_backoff=True)
        assert self.lab.checker is not None
        guard = guard_calls(faults, self.lab.checker)
        return guard, self.lab.runtime(faults)

    def rotate(self, rt: object) -> None:
        try:
            self.outcomes.append(self.lab.work("rotate", _replaced(self.named), rt=rt))  # type: ignore[arg-type]
        except RekeyError as exc:
            self.errors.append(f"{exc.code}: {exc}")


def _calls_of_one_rotation(org: Org, phase: Phase) -> list[tuple[str, str, int]]:
    lab = Lab(org)
    named = phase.setup(lab)
    lab.faults.log.clear()
    assert lab.work("rotate", _replaced(named), rt=lab.runtime()).status == "done"
    seen: Counter = Counter()
    sequence = []
    for service, operation in lab.faults.log:
        sequence.append((service, operation, seen[(service, operation)]))
        seen[(service, operation)] += 1
    return sequence


@pytest.mark.slow
@pytest.mark.parametrize("phase", ROTATIONS, ids=[p.name for p in ROTATIONS])
def test_a_second_worker_running_after_any_call_of_the_first_is_safe_and_quiet(org: Org, phase: Phase) -> None:
    """The second worker runs the same item to completion right after each call of the first
    (one case per call), then the first carries on."""
    sequence = _calls_of_one_rotation(org, phase)
    assert ("iam", "CreateAccessKey", 0) in sequence
    problems = []
    for service, operation, nth in sequence:
        lab = Lab(org)
        race = Race(lab, phase.setup(lab))
        guard, second = race.worker()
        first = lab.runtime()
        # Also after a call AWS answered with an error (the first rotation's DescribeSecret: no
        # secret yet), so the second worker always runs right after that very call.
        run_second = lambda _p, race=race, rt=second: race.rotate(rt)  # noqa: E731
        lab.faults.after(service, operation, run_second, skip=nth, on_error=True)
        race.rotate(first)
        lab._check(f"after both workers ({service}:{operation}#{nth})")
        lab.age(1)
        lab.day("next day")
        expected = phase.expect(lab, race.named)
        keys = lab.keys()
        where = f"{phase.name}, second worker after {service}:{operation}#{nth}"
        problems += [f"{where}: {v}" for v in lab.violations + guard.violations]
        problems += [f"{where}: a worker failed: {e}" for e in race.errors]
        if len(race.outcomes) != 2:
            problems.append(f"{where}: {len(race.outcomes)} outcome(s)")
        if keys != expected or lab.checker.unsettled():  # type: ignore[union-attr]
            problems.append(f"{where}: ended with {keys}, expected {expected}")
        rotated = [o for o in race.outcomes if o.status == "done"]
        if len(rotated) != 1:
            problems.append(f"{where}: {len(rotated)} rotations done, expected exactly one")
    summary.record_cases(f"interleavings ({phase.name})", len(sequence))
    assert not problems, "\n".join(problems)


def test_two_threads_rotating_the_same_user_at_once(org: Org) -> None:
    """Real threads, started together: whichever wins, one new key and no failure."""
    phase = ROTATIONS[0]
    problems = []
    rounds = 6
    for n in range(rounds):
        lab = Lab(org)
        race = Race(lab, phase.setup(lab))
        runtimes = [race.worker()[1], race.worker()[1]]
        start = threading.Barrier(2)

        def go(rt: object, race: Race = race, start: threading.Barrier = start) -> None:
            start.wait()
            race.rotate(rt)

        threads = [threading.Thread(target=go, args=(rt,)) for rt in runtimes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lab._check(f"round {n}")
        problems += [f"round {n}: {v}" for v in lab.violations]
        problems += [f"round {n}: a worker failed: {e}" for e in race.errors]
        if len(lab.keys()) != 2 or sum(o.status == "done" for o in race.outcomes) != 1:
            problems.append(f"round {n}: keys {lab.keys()}, outcomes {[o.status for o in race.outcomes]}")
    summary.record_cases("two threads at once", rounds)
    assert not problems, "\n".join(problems)
