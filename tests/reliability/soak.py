"""The soak: a year of daily `rekey run` on the emulator with random AWS failures and crashes.

Each user lives in a member account of its own (tests/reliability/lab.py), swept and worked by
the production sweep and Lambda handler every simulated day, with every call failing (past its
retries) at --fault-rate and the process killed right after a successful call at --crash-rate
(three times as often after a write). The safety invariants are checked after every step; every
action done — a key that became the secret's current one, a usable key deactivated or deleted —
must be announced within a day (late announcements count). With --native, Secrets Manager's
rotation is on (Lab(native=True)): rotations of a stored key are handed to it, and the hub's
handling of its steps fails and crashes like the rest (a crash there: the relay retries the
502); Secrets Manager's own retries of a failed rotation are not modelled.

Users take turns: none, an SSM parameter, a GitHub repository (the organization's fake GitHub,
its calls failed and crashed like AWS's) as their delivery destination (--no-destinations: none).
A consumer reads each destination every day and signs with the key it finds there; each
destination is down for days (--outage-days) from every other day its key is due, and the GitHub App's installation
tokens expire or are revoked mid-run (--token-events times). The lab checks that no key of a
delivered user is deactivated before its replacement was at the destination and used, unless
its unconfirmed pickup was announced. Exit 0 iff no invariant was broken and no action went
unannounced. Not part of `make test`: `make soak` (SOAK_ARGS=...)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# --rollout: how a lab's day finds its rotation window (Lab.day), and how often: a weekend's two
# days closed in seven, and one day in ten closing after the sweep queued its items.
WINDOW_DAYS, WINDOW_WEIGHTS = ("open", "closed", "closes"), (0.614, 0.286, 0.1)
# The events that announce an action; an action's kind is its event's name.
EVENTS = frozenset({"rotated", "deactivated", "deleted"})


@dataclass(frozen=True)
class Done:
    """An action seen done by the end of `day`: `kind` is rotated, deactivated or deleted."""

    day: int
    user: str
    kind: str
    key_id: str


@dataclass
class Tally:
    done: Counter = field(default_factory=Counter)
    announced: int = 0
    late: int = 0
    unannounced: list[Done] = field(default_factory=list)


def match(actions: Iterable[Done], notifications: Iterable[tuple[int, dict[str, Any]]]) -> Tally:
    """Pair each action with an announcement of it published on its day or the next (a rotation
    by its new key, a deactivation or deletion by its key; duplicates, by notification_id, count
    once). `notifications` are (day published, notification)."""
    seen: dict[tuple[str, str], list[tuple[int, bool]]] = {}
    ids: set[str] = set()
    for day, n in notifications:
        if n.get("event") not in EVENTS or n.get("notification_id") in ids:
            continue
        ids.add(n.get("notification_id") or "")
        key = n.get("new_key_id") if n["event"] == "rotated" else n.get("key_id")
        if key:
            seen.setdefault((n["event"], key), []).append((day, bool(n.get("late"))))
    tally = Tally()
    for action in actions:
        tally.done[action.kind] += 1
        found = [late for day, late in seen.get((action.kind, action.key_id), []) if 0 <= day - action.day <= 1]
        if found:
            tally.announced += 1
            tally.late += all(found)
        else:
            tally.unannounced.append(action)
    return tally


class Watch:
    """What one user's keys and secret did, from day to day: the actions done."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.keys: dict[str, str] = lab.keys()
        self.usable: set[str] = set(self.keys)  # the user's own keys, and every key ever current

    def day(self, day: int) -> list[Done]:
        keys, current = self.lab.keys(), self._current()
        done: list[Done] = []
        if current and current not in self.usable:
            self.usable.add(current)
            done.append(Done(day, self.lab.user, "rotated", current))
        for key_id, status in self.keys.items():
            if key_id not in self.usable:
                continue  # a key rekey created and never stored: its removal is a rollback
            if key_id not in keys:
                done.append(Done(day, self.lab.user, "deleted", key_id))
            elif status == "Active" and keys[key_id] == "Inactive":
                done.append(Done(day, self.lab.user, "deactivated", key_id))
        self.keys = keys
        return done

    def _current(self) -> str | None:
        sm = self.lab.org.emulator.account_client("secretsmanager", self.lab.account_id)
        try:
            value = sm.get_secret_value(SecretId=f"rekey/{self.lab.user}", VersionStage="AWSCURRENT")
        except sm.exceptions.ResourceNotFoundException:
            return None
        return json.loads(value["SecretString"]).get("AccessKey")


KINDS = ("", "ssm", "github")  # users' destinations, in turn


@dataclass
class Outage:
    """A user's destination down (every write refused) for `days` from the day its key is due
    for rotation, every other rotation: its push fails until the outage ends."""

    lab: Any
    days: int
    start: int | None = None
    rotations: int = 0
    rule: Any = None
    count: int = 0

    def day(self, day: int) -> None:
        if self.rule is None and _newest_age(self.lab) >= 89.5:
            self.rotations += 1
            if self.rotations % 2:
                faults, self.start, self.count = self.lab.faults, day, self.count + 1
                if self.lab.github is not None:
                    self.rule = faults.fail("github", "*", status=503, times=0)
                else:
                    self.rule = faults.fail("ssm", "PutParameter", code="InternalFailure", status=500, times=0)
        elif self.rule is not None and self.start is not None and day >= self.start + self.days:
            self.lab.faults.rules.remove(self.rule)
            self.rule = None


def _newest_age(lab: Any) -> float:
    """The age in days of the user's newest active key (0 if none)."""
    from moto.iam.models import iam_backends

    user = iam_backends[lab.account_id]["global"].users.get(lab.user)
    created = [k.create_date for k in (user.access_keys if user else []) if k.status == "Active"]
    if not created:
        return 0.0
    newest = max(c if c.tzinfo else c.replace(tzinfo=UTC) for c in created)
    return (datetime.now(UTC) - newest).total_seconds() / 86400


@dataclass
class Deliveries:
    """What the destinations saw: pushes announced, failures announced, old keys retired on proof
    of pickup or at their deadline (pickup-unconfirmed announced)."""

    delivered: int = 0
    failed: int = 0
    on_proof: int = 0
    at_deadline: int = 0

    def count(self, notifications: Iterable[dict[str, Any]], retired: Iterable[Done], delivering: set[str]) -> None:
        unconfirmed = set()
        ids: set[str] = set()
        for n in notifications:
            if n.get("notification_id") in ids:
                continue
            ids.add(n.get("notification_id") or "")
            self.delivered += n.get("event") == "delivered"
            self.failed += n.get("event") == "delivery-failed"
            if n.get("event") == "pickup-unconfirmed":
                unconfirmed.add(n.get("key_id"))
        for action in retired:
            if action.kind == "deactivated" and action.user in delivering:
                self.at_deadline += action.key_id in unconfirmed
                self.on_proof += action.key_id not in unconfirmed


def consume(lab: Any) -> None:
    """The user's consumer signs with the key its destination holds (if it is an active key)."""
    held = lab.delivered_key()
    if held is not None and lab.keys().get(held) == "Active":
        lab.org.emulator.use_key(lab.account_id, held, "s3")


def soak(
    days: int,
    users: int,
    seed: int,
    fault_rate: float,
    crash_rate: float,
    native: bool = False,
    destinations: bool = True,
    outage_days: int = 12,
    token_events: int = 4,
    rollout: bool = False,
) -> int:
    from rekey_dev import emulator as em

    from tests.conftest import build_org
    from tests.faults import Faults
    from tests.reliability.lab import Lab

    rng = random.Random(seed)
    logging.disable(logging.CRITICAL)  # the soak's faults would flood the terminal
    started = time.monotonic()
    with em.running() as emulator:
        org = build_org(emulator, os.environ.__setitem__)
        labs, rules, watches, outages = [], [], [], []
        for i in range(users):
            kind = KINDS[i % len(KINDS)] if destinations else ""
            lab = Lab(org, Faults(instant_backoff=True), user=f"svc-{i}", native=native, deliver=kind, rollout=rollout)
            lab.create_user()
            lab.age(rng.uniform(0, 110))  # keys of every age: users reach each step on other days
            rules.append(lab.faults.chaos(rng, fault_rate, crash_rate))
            labs.append(lab)
            watches.append(Watch(lab))
            if kind and outage_days:  # down for days when its key is due, every other rotation
                outages.append(Outage(lab, outage_days))
        # With --rollout, each lab's window is closed some whole days and closes between the
        # sweep and the workers on others (its own random stream: the faults stay the seed's).
        windows = random.Random(f"{seed}-windows")
        closures: Counter = Counter()
        github = next((lab.github for lab in labs if lab.github is not None), None)
        token_days = sorted(rng.sample(range(days), min(days, token_events))) if github else []
        actions: list[Done] = []
        published: list[tuple[int, dict[str, Any]]] = []
        collected = [0] * len(labs)  # how many of each lab's notifications are in `published`
        for day in range(days):
            for outage in outages:
                outage.day(day)
            if github is not None and day in token_days:  # expired, or revoked: rekey buys another
                github.expire_tokens() if token_days.index(day) % 2 == 0 else github.fake.revoke_tokens()
            for lab, watch in zip(labs, watches, strict=True):
                if lab.deliver:
                    consume(lab)
                window = windows.choices(WINDOW_DAYS, WINDOW_WEIGHTS)[0] if rollout else "open"
                closures[window] += 1
                lab.day(f"day {day}", window)
                actions += watch.day(day)
                lab.age(1)
            # Collected once every lab's day is done: a lab's sweep also reaches the accounts of
            # the labs created after it, and with --native the steps Secrets Manager runs for
            # such a user are carried out (and announced) by that user's own lab.
            for i, lab in enumerate(labs):
                published += [(day, n) for n in lab.published[collected[i] :]]
                collected[i] = len(lab.published)
        tally = match(actions, published)
        deliveries = Deliveries()
        deliveries.count((n for _, n in published), actions, {lab.user for lab in labs if lab.deliver})
    calls = sum(lab.faults.count() for lab in labs)
    github_calls = sum(lab.faults.count("github") for lab in labs)
    faults = sum(fail.chosen for fail, _ in rules)
    crashes = sum(crash.fired for _, crash in rules)
    violations = [v for lab in labs for v in lab.violations]
    mode = ", Secrets Manager's rotation (native)" if native else ""
    mode += ", windows, waves and the breaker on (rollout)" if rollout else ""
    delivering = sum(1 for lab in labs if lab.deliver)
    print(f"soak: {days} days, {users} users, seed {seed}, fault rate {fault_rate}, crash rate {crash_rate}{mode}")
    print(
        f"  {calls} calls ({github_calls} of them GitHub's), {faults} failed past their retries, "
        f"{crashes} crashes right after a call"
    )
    if rollout:
        print(
            f"  rotation window: open all day {closures['open']}, closed all day {closures['closed']}, "
            f"closed between the sweep and the workers {closures['closes']} (lab-days); no key changed while closed"
        )
    if delivering:
        print(
            f"  destinations: {delivering} users, {sum(o.count for o in outages)} outages of {outage_days} days, "
            f"{len(token_days)} token expiries or revocations; {deliveries.delivered} pushes, "
            f"{deliveries.failed} delivery failures announced; old keys retired on proof of pickup "
            f"{deliveries.on_proof}, at their deadline unconfirmed (announced) {deliveries.at_deadline}"
        )
    print(
        f"  done: {tally.done['rotated']} rotations, {tally.done['deactivated']} deactivations, "
        f"{tally.done['deleted']} deletions; announced {tally.announced} ({tally.late} only late), "
        f"unannounced {len(tally.unannounced)}"
    )
    print(f"  safety invariant violations: {len(violations)}")
    for a in tally.unannounced:
        print(f"  UNANNOUNCED day {a.day}: {a.user} {a.kind} {a.key_id}")
    for v in violations:
        print(f"  VIOLATION {v}")
    print(f"  {time.monotonic() - started:.0f} s")
    return 0 if not violations and not tally.unannounced else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.soak",
        description="A year of daily rekey runs on the emulator with random failures and crashes; exit 0 iff "
        "no safety invariant broke and every action was announced within a day.",
    )
    parser.add_argument("--days", type=int, default=365, help="simulated days (default 365)")
    parser.add_argument("--users", type=int, default=6, help="users, each in an account of its own (default 6)")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed, the same run (default 1)")
    parser.add_argument("--fault-rate", type=float, default=0.01, help="share of calls failing (default 0.01)")
    parser.add_argument(
        "--crash-rate", type=float, default=0.005, help="share of calls followed by a crash, x3 for writes (0.005)"
    )
    parser.add_argument(
        "--native", action="store_true", help="Secrets Manager's rotation on: REKEY_ROTATION_RELAY, the relay deployed"
    )
    parser.add_argument(
        "--rollout",
        action="store_true",
        help="issue 31's controls on: each user's account the first of two waves, a rotation window closed on "
        "some days and between the sweep and the workers on others",
    )
    parser.add_argument(
        "--no-destinations", action="store_true", help="no user selects a delivery destination (by default: 2 in 3)"
    )
    parser.add_argument(
        "--outage-days", type=int, default=12, help="a destination down this long from every other rotation (12)"
    )
    parser.add_argument(
        "--token-events", type=int, default=4, help="GitHub App tokens expired or revoked this many times (default 4)"
    )
    args = parser.parse_args(argv)
    if args.days < 1 or args.users < 1 or not (0 <= args.fault_rate < 1 and 0 <= args.crash_rate < 1):
        parser.error("--days and --users must be at least 1, the rates between 0 and 1")
    if args.outage_days < 0 or args.token_events < 0:
        parser.error("--outage-days and --token-events cannot be negative")
    return soak(
        args.days,
        args.users,
        args.seed,
        args.fault_rate,
        args.crash_rate,
        args.native,
        not args.no_destinations,
        args.outage_days,
        args.token_events,
        args.rollout,
    )


if __name__ == "__main__":
    sys.exit(main())
