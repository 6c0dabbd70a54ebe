"""The breaker and the rollout's waves, where they meet the sweep, the worker and the operators
(rekey.domain.rollout decides; the hub's state table keeps what it decided). Without a state
table (REKEY_STATE_TABLE unset) there is neither: nothing is held, nothing counted."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime

from ..domain import errors
from ..domain.release import VERSION
from ..domain.rollout import Halt, Hold, HubStatus, fingerprint, halted_finding, is_breakage, sign
from ..messages import Event, Severity, WorkItem
from ..ports import HubState, Ports
from ..settings import Settings
from .announce import notice, publish

log = logging.getLogger(__name__)


def fingerprint_of(settings: Settings) -> str:
    """What rekey would do, summed up: the release and every setting that decides an action."""
    decisive = {
        "policy": asdict(settings.policy),
        "bounds": asdict(settings.bounds),
        "preset": settings.policy_preset.value,
        "guard": asdict(settings.guard),
        "tag_key": settings.tag_key,
        "destinations": [d.name for d in settings.destinations],
    }
    return fingerprint(VERSION, decisive)


def hold_for(ports: Ports, account_id: str, now: datetime) -> str | None:
    """Why a sweep's key changes in `account_id` are held now (halted, or its wave has not taken
    this release and configuration yet), or None. A state that cannot be read raises (the item
    fails, announced, and is retried): nothing changes a key without it."""
    state = ports.hub_state()
    hold = None if state is None else _hold(ports, _status(ports, state), account_id, now)
    return None if hold is None else hold.why


def holds(ports: Ports, account_ids: list[str], now: datetime) -> dict[str, Hold]:
    """Of `account_ids`, those whose key changes the hub holds now, why and until when (`rekey
    plan`): the state read once."""
    state = ports.hub_state()
    if state is None:
        return {}
    status = _status(ports, state)
    found = {a: _hold(ports, status, a, now) for a in account_ids}
    return {a: hold for a, hold in found.items() if hold is not None}


def _status(ports: Ports, state: HubState) -> HubStatus:
    """The halt, and the waves' records when there is more than one wave."""
    waves = ports.settings.rollout.count
    return state.status(waves if waves > 1 else 0)


def _hold(ports: Ports, status: HubStatus, account_id: str, now: datetime) -> Hold | None:
    if status.halt is not None:
        return Hold(status.halt.hold())
    waves = ports.settings.rollout
    if waves.count == 1:
        return None
    wave = waves.wave_of(account_id, ports.organizations().accounts_under)
    return waves.hold(wave, status.waves, fingerprint_of(ports.settings), now.date())


def count_attempt(ports: Ports, now: datetime) -> None:
    """A sweep's item is about to change a key: counted for the breaker's share."""
    state = ports.hub_state()
    if state is not None:
        state.attempted(now.date())


def broke(ports: Ports, account_id: str, user_name: str, what: str, now: datetime) -> None:
    """A sign of breakage on a user: recorded on the day and on its account's wave; the
    breaker halts every key change if the day's signs pass its threshold. A failure to record is
    logged: the item's own failure is announced either way."""
    state = ports.hub_state()
    if state is None:
        return
    s = ports.settings
    wave = s.rollout.wave_of(account_id, ports.organizations().accounts_under) if s.waves else 0
    try:
        tally = state.broke(now.date(), sign(account_id, user_name, what), wave)
        if s.threshold.tripped(tally) and state.halt_now(Halt(now, tuple(sorted(tally.signs)))):
            _announce_halt(ports, Halt(now, tuple(sorted(tally.signs))), tally.attempted)
    except errors.RekeyError as exc:
        log.error("could not record a sign of breakage (%s): %s: %s", what, exc.code, exc)


def failure_breaks(item: WorkItem, error: errors.RekeyError, last: bool) -> str | None:
    """The sign of breakage a failed attempt at `item` is, or None: a failure that is rekey's
    or its permissions' (not throttling, AWS unavailable or an unreachable account), or an item
    dead-lettered for AWS being unavailable all day."""
    if is_breakage(error):
        return f"{item.action.value} failed: {error.code}"
    if last and isinstance(error, errors.Unavailable):
        return f"{item.action.value} dead-lettered: {error.code}"
    return None


def _announce_halt(ports: Ports, halt: Halt, attempted: int) -> None:
    s, hub = ports.settings, ports.settings.hub_account_id
    message = (
        f"rekey halted every key change: {len(halt.evidence)} sign(s) of breakage today of {attempted} key "
        f"change(s) attempted (threshold: {s.threshold.describe()}): {'; '.join(halt.evidence[:10])}. "
        "Scans and reports go on; an operator resumes with `rekey resume` once the cause is understood"
    )
    publish(ports, [notice(Event.HALTED, Severity.CRITICAL, hub, message, halt.since)])
    try:
        ports.hub_findings().import_findings([halted_finding(halt, hub, s.region, s.partition)])
    except errors.RekeyError as exc:
        log.error("could not import the halt's Security Hub finding: %s: %s", exc.code, exc)


def at_sweep(ports: Ports, now: datetime) -> None:
    """The sweep's part: say if the rotation window is never reached at this hour, say again
    that rekey is halted, and let each wave that has earned this release and configuration
    take it. A state that cannot be read or written is announced: workers then hold what needs it."""
    s, hub = ports.settings, ports.settings.hub_account_id
    said = []
    unreached = s.rotation_window.reach_problem(now) if s.rotation_window else None
    if unreached:
        said.append(
            notice(Event.MISCONFIGURED, Severity.ERROR, hub, f"REKEY_ROTATION_WINDOW: {unreached} (SweepSchedule)", now)
        )
    state = ports.hub_state()
    if state is not None:
        try:
            status = _status(ports, state)
            if status.halt is not None:
                said.append(notice(Event.HALTED, Severity.CRITICAL, hub, f"still halted: {status.halt.hold()}", now))
            changed = s.rollout.promoted(status.waves, fingerprint_of(s), now.date()) if s.waves else {}
            if changed:
                state.set_waves(changed)
        except errors.RekeyError as exc:
            why = f"the hub's state (the breaker, the waves) cannot be read or written: {exc.code}: {exc}"
            said.append(notice(Event.FAILED, Severity.ERROR, hub, f"{why}; the waves move on at a later sweep", now))
    publish(ports, said)


def resume(ports: Ports, caller: str) -> Halt | None:
    """An operator resumes key changes: the halt cleared, announced with who resumed."""
    state = ports.hub_state()
    if state is None:
        raise errors.Refused("this hub has no state table (REKEY_STATE_TABLE), so no breaker to resume")
    halt = state.resume()
    now, hub = ports.now(), ports.settings.hub_account_id
    if halt is None:
        return None
    message = (
        f"key changes resumed by {caller}; halted since {halt.since:%Y-%m-%d %H:%M} UTC for: "
        f"{'; '.join(halt.evidence[:10])}. The next sweep carries on where they stopped"
    )
    publish(ports, [notice(Event.RESUMED, Severity.WARNING, hub, message, now, requested_by=caller)])
    try:
        ports.hub_findings().import_findings(
            [halted_finding(halt, hub, ports.settings.region, ports.settings.partition, resolved_at=now)]
        )
    except errors.RekeyError as exc:
        log.error("could not archive the halt's Security Hub finding: %s: %s", exc.code, exc)
    return halt
