"""Every AWS call on the scan, rotate, deactivate and delete paths, failed and crashed.

For each phase of a key's life a fault-free day is recorded first: the calls it makes, in order
(the fault injector's log), are the matrix's points, so the matrix follows the code. Then, for
every point and mode, a fresh account is set up in the same state, the fault is injected on the
day the action is due, and later days (the sweep, then the worker's Lambda handler over the
work queue) run until the user converges, at most three days later. The safety invariants are
checked after the sweep and after every worker batch; key writes are checked as they are sent.

Modes: `unavailable` (500 on every attempt that day: past botocore's retries and Lambda's
redeliveries, so to the DLQ), `denied` (AccessDenied all day, not retried), `crash` (the
process dies right after the call returned), `lost-response` (AWS applied the call, the answer
never came: botocore retries it). Reads are points once each (their later occurrences run the
same code); a lost answer only matters for writes; a crash after a read leaves AWS and the
queue exactly as a crash after the call before it, so only a path's first read is crashed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import astuple, dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Org
from tests.faults import Faults, Rule
from tests.reliability import summary
from tests.reliability.github import SERVICE as GITHUB
from tests.reliability.lab import Lab
from tests.reliability.phases import PHASES, Phase

MAX_LATER_DAYS = 3

# Modes: a failure that outlasts botocore's retries (all day), a denial (all day, not retried),
# the process dying right after the call returned, and an answer lost after AWS applied the
# call (botocore retries a call that already happened).
MODES = ("unavailable", "denied", "crash", "lost-response")
# GitHub's calls (tests/reliability/github.py): 5xx past the adapter's retries, 403 (a permission
# the App lacks), 401 (its token refused, bought again, refused again), a rate limit asking an
# hour's wait, all day; a crash right after GitHub answered; an answer lost after GitHub applied it.
GITHUB_MODES = ("unavailable", "denied", "unauthorized", "rate-limited", "crash", "lost-response")
ALL_DAY = ("unavailable", "denied", "unauthorized", "rate-limited")
READS = ("Get", "List", "Describe", "Generate")


def is_read(operation: str) -> bool:
    return operation.startswith(READS) or operation in ("AssumeRole", "GetCallerIdentity")


@dataclass(frozen=True)
class Point:
    path: str  # "scan" | "worker"
    service: str
    operation: str
    nth: int  # 0-based occurrence of the call on that path
    # The step of Secrets Manager's rotation whose handling by the hub made the call (the hub's
    # rotation function, Lab(native=True)), or "" (the sweep's or the worker's own call).
    step: str = ""
    # A crash right after a read leaves AWS and the queue exactly as a crash right after the
    # call before it: so after reads it is run only for a path's first call (nothing done yet).
    distinct_crash: bool = field(default=True, compare=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.service}:{self.operation}#{self.nth}" + (f"@{self.step}" if self.step else "")

    @property
    def modes(self) -> list[str]:
        """A lost answer only matters when the call changed something."""
        read = is_read(self.operation)
        modes = GITHUB_MODES if self.service == GITHUB else MODES
        return [
            m for m in modes if not (m == "lost-response" and read) and not (m == "crash" and not self.distinct_crash)
        ]


def arm(faults: Faults, point: Point, mode: str) -> Rule:
    s, op, skip = point.service, point.operation, point.nth
    if s == GITHUB and mode in ("denied", "unauthorized", "rate-limited"):
        status, code = {"denied": (403, "AccessDenied"), "unauthorized": (401, "Unauthorized")}.get(
            mode, (403, "RateLimited")
        )
        return faults.fail(s, op, code=code, status=status, times=0, skip=skip)
    if mode == "unavailable":
        return faults.fail(s, op, code="InternalFailure", status=500, times=0, skip=skip)
    if mode == "denied":
        return faults.fail(s, op, code="AccessDenied", status=403, times=0, skip=skip)
    if mode == "crash":  # after the answer, whatever it was (DescribeSecret may say NotFound)
        return faults.crash_after(s, op, skip=skip, on_error=True)
    if mode == "lost-response":
        return faults.timeout(s, op, applied=True, skip=skip)
    raise ValueError(mode)


# ----------------------------------------------------------------- one case


@dataclass
class CaseResult:
    phase: str
    point: Point
    mode: str
    days: int | None  # later days it took to converge; None = did not converge
    violations: list[str]
    problems: list[str]  # the harness's own checks: the fault fired, the failure was announced
    checks: int = 0  # invariant checks made
    actions: list[str] = field(default_factory=list)  # the key actions announced, by the keys' roles
    late: int = 0  # announcements made late (an attempt died between the action and its announcement)
    dead_lettered: int = 0  # work items moved to the DLQ


def end_state_problems(lab: Lab, phase: Phase, named: dict[str, str]) -> list[str]:
    """Why the user has not converged yet (nothing: it has), from the last step's snapshot."""
    assert lab.checker is not None and lab.snap is not None
    try:
        expected = phase.expect(lab, named)
    except AssertionError as exc:
        return [str(exc)]
    keys = {k.key_id: k.status for k in lab.snap.keys.values()}
    problems = [] if keys == expected else [f"keys {keys} != expected {expected}"]
    current = lab.snap.secret.key_in("AWSCURRENT")
    if phase.deliver and lab.delivered_key() != current:
        problems.append(f"the user's destination holds {lab.delivered_key()}, not the current key {current}")
    status = lab.delivery_status() if phase.deliver else None
    if phase.deliver and not (status or "").startswith(f"{current} synced "):
        problems.append(f"the secret records the destination as {status!r}, not synced for {current}")
    return problems + lab.checker.unsettled(lab.snap)


ACTIONS = ("rotated", "deactivated", "deleted")


def announced_actions(lab: Lab, named: dict[str, str]) -> tuple[list[str], int]:
    """The key actions announced (each fact once: by notification id), with each key named by
    its role in the phase (`new`: the key current at the end), and how many came late. The
    deletion of a key nobody could use (an orphan of an interrupted rotation) is a recovery's
    action, not the day's: left out."""
    roles = {key: role for role, key in named.items()}
    current = lab.snap.secret.key_in("AWSCURRENT") if lab.snap else None
    if current and current not in roles:
        roles[current] = "new"
    facts: dict[str, str] = {}
    late = 0
    for e in lab.events():
        key_id, new_key_id = e.get("key_id"), e.get("new_key_id")
        if e["event"] not in ACTIONS or e["notification_id"] in facts:
            continue
        key, new = roles.get(key_id or "", key_id), roles.get(new_key_id or "", new_key_id)
        if e["event"] == "deleted" and key_id not in roles:
            continue
        facts[e["notification_id"]] = f"{e['event']} {key}" + (f" -> {new}" if new else "")
        late += bool(e.get("late"))
    return sorted(facts.values()), late


Call = tuple[str, str, str]  # service, operation, the rotation step whose handling made it ("": none)


def run_case(
    org: Org, phase: Phase, point: Point | None, mode: str | None
) -> tuple[CaseResult, Lab, dict[str, list[Call]]]:
    lab = Lab(org, native=phase.native, deliver=phase.deliver, rollout=phase.rollout)
    logged = _Said()
    logging.getLogger().addHandler(logged)
    try:
        return _run_case(lab, phase, point, mode, logged)
    finally:
        logging.getLogger().removeHandler(logged)


class _Said(logging.Handler):
    """Every log line of a case (at the levels the loggers let through), with its traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + (self.formatException(record.exc_info) if record.exc_info else ""))


def _run_case(
    lab: Lab, phase: Phase, point: Point | None, mode: str | None, logged: _Said
) -> tuple[CaseResult, Lab, dict[str, list[Call]]]:
    named = phase.setup(lab)
    rule: Rule | None = None

    def arm_now() -> None:
        nonlocal rule
        if point is not None and mode is not None:
            rule = arm(lab.faults, point, mode)

    log = lab.faults.log
    before = len(log)
    if point is not None and point.path == "scan":
        arm_now()
    lab.sweep("day 0 sweep")
    scanned = len(log)
    if point is not None and point.path == "worker":
        arm_now()
    lab.drain("day 0 worker")
    worked = len(log)
    # A failed Security Hub import, or Secrets Manager unable to run or record the rotation, is a
    # warning (the keys are rotated all the same), still said.
    said = {"securityhub": ("findings-failed",), "secretsmanager": ("secretsmanager-rotation-failed",)}.get(
        point.service if point is not None else "", ()
    )
    day0_surfaced = any(e["severity"] == "error" or e["event"] in said for e in lab.events()) or any(
        s.surfaced for s in lab.steps
    )
    if rule is not None:
        lab.faults.rules.remove(rule)  # the outage is over

    days: int | None = None
    for day in range(MAX_LATER_DAYS + 1):
        if day:
            lab.age(1)
            # With the rollout's controls, the day after the fault is outside the rotation window
            # (a weekend): an interrupted rotation is settled, and no key changes, until day 2.
            lab.day(f"day {day}", "closed" if phase.rollout and day == 1 else "open")
        if not end_state_problems(lab, phase, named):
            days = day
            break
    problems = [] if days is not None else end_state_problems(lab, phase, named)
    actions, late = announced_actions(lab, named)
    if lab.queued():
        problems.append(f"{lab.queued()} item(s) left on the work queue")
    if point is not None and rule is not None and rule.fired == 0:
        problems.append("the fault never fired: the point was not reached")
    problems += sorted(set(lab.leaks(*logged.lines)))
    if mode in ALL_DAY and point is not None and point.service != "sns" and not day0_surfaced:
        problems.append("the failure was neither announced nor alarmed on day 0")
    steps = {i: name for name, start, end, _ in lab.step_spans for i in range(start, end)}
    calls = {
        "scan": [(*log[i], steps.get(i, "")) for i in range(before, scanned)],
        "worker": [(*log[i], steps.get(i, "")) for i in range(scanned, worked)],
    }
    checks = lab.checker.checks if lab.checker else 0
    dead = sum(s.dead_lettered for s in lab.steps)
    result = CaseResult(phase.name, point, mode, days, lab.violations, problems, checks, actions, late, dead)  # type: ignore[arg-type]
    return result, lab, calls


def points_of(calls: dict[str, list[Call]], phase: Phase) -> list[Point]:
    """From a fault-free day's calls, in order: every write on each path, each time it is made;
    every read once (a read's later occurrences run the same code on the same kind of state:
    GetAccessKeyLastUsed per key, GetUser for the next item of a day) — once in the worker's
    own code and once in the hub's handling of each step of Secrets Manager's rotation (the
    same reads there fail a step, not the work item). A crash after a read is distinct only
    at the start of a path or of a step (a crash there re-runs the step, not the call before)."""
    points = []
    for path, sequence in calls.items():
        if path == "scan" and not phase.scan_points:
            continue
        seen: Counter = Counter()  # (service, operation): occurrences on the path, as `arm` counts them
        reads: set[tuple[str, str, str]] = set()
        for index, (service, operation, step) in enumerate(sequence):
            nth = seen[(service, operation)]
            seen[(service, operation)] += 1
            read = is_read(operation)
            first = (step, service, operation) not in reads
            reads.add((step, service, operation))
            starts = index == 0 or sequence[index - 1][2] != step
            if not read or first:
                points.append(Point(path, service, operation, nth, step, distinct_crash=not read or starts))
    return points


# ----------------------------------------------------------------- the matrix

ROOT = Path(__file__).resolve().parents[2]


def shards() -> int:
    """Processes to spread the cases over: one per core (up to 4); REKEY_TEST_SHARDS overrides."""
    return max(1, int(os.environ.get("REKEY_TEST_SHARDS") or min(os.cpu_count() or 1, 4)))


def run_cases(org: Org, phase: Phase, cases: list[tuple[Point, str]]) -> list[CaseResult]:
    """Every case, dealt out to this process and one more per spare core (each process its own
    emulator: the emulator and the code share a core, so more processes is more speed)."""
    n = shards() if len(cases) >= 12 else 1
    deals = [cases[i::n] for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        children = []
        for i, deal in enumerate(deals[1:], 1):
            request, results, log = (Path(tmp) / f"{name}-{i}" for name in ("request.json", "results.json", "log"))
            request.write_text(json.dumps({"phase": phase.name, "cases": [[*astuple(p)[:5], m] for p, m in deal]}))
            with log.open("w") as stderr:
                command = [sys.executable, "-m", "tests.reliability.shard", str(request), str(results)]
                process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
            children.append((process, results, log))
        mine = [run_case(org, phase, point, mode)[0] for point, mode in deals[0]]
        theirs = []
        for process, results, log in children:
            code = process.wait(timeout=1800)
            assert code == 0, f"a shard failed ({code}):\n{log.read_text()[-3000:]}"
            for r in json.loads(results.read_text()):
                r["point"] = Point(*r["point"])
                theirs.append(CaseResult(**r))
    return mine + theirs


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES, ids=[p.name for p in PHASES])
def test_every_call_failed_or_crashed_converges_safely(org: Org, phase: Phase) -> None:
    started = time.perf_counter()
    baseline, _, calls = run_case(org, phase, None, None)
    assert baseline.days == 0 and not baseline.violations and not baseline.problems, baseline
    points = points_of(calls, phase)
    # The recording must cover the writes that matter, or the matrix would prove nothing.
    operations = {p.operation for p in points}
    assert operations & {"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"}, operations
    # In native mode, the hub's handling of Secrets Manager's steps is among them.
    missing = phase.step_points - {(p.step, p.operation) for p in points}
    assert not missing, f"the fault-free day made no {sorted(missing)}"
    # And what the phase is about (with delivery on, the push).
    assert phase.operations <= operations, f"the fault-free day made no {sorted(phase.operations - operations)}"

    results = run_cases(org, phase, [(point, mode) for point in points for mode in point.modes])
    # Every action of the fault-free day is announced, whatever died when: at least once, within
    # the days it took to converge, and nothing else (a duplicate has the first one's id). While
    # the topic itself is down all day, an item whose announcement failed ends in the DLQ (its
    # alarm fires; a redrive announces it, late): the only way an announcement waits for a human.
    for r in results:
        topic_down = r.point.service == "sns" and r.mode in ("unavailable", "denied") and r.dead_lettered
        if topic_down and set(r.actions) <= set(baseline.actions):
            continue
        if r.actions != baseline.actions:
            r.problems.append(f"announced {r.actions}, a fault-free day {baseline.actions}")

    bad = [r for r in results if r.violations or r.problems]
    summary.record_matrix(phase.name, points, results, time.perf_counter() - started)
    assert not bad, "\n".join(f"{r.phase} {r.point} {r.mode}: {'; '.join(r.violations + r.problems)}" for r in bad[:20])
