"""decide(): what a user's keys need today. A pure function of keys, secret, policy and `now`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from .delivery import undelivered
from .models import KEY_CHANGING, AccessKey, Action, ActionKind, Intent, InUsePolicy, KeyUse, Policy, SecretState

MAX_KEYS = 2
# A key created by an attempt appears after its intent was recorded, within the longest a
# worker runs (a Lambda's 15 minutes); the slack absorbs clock skew between IAM and the worker.
INTENT_SLACK = timedelta(minutes=5)
INTENT_WINDOW = timedelta(minutes=15)
# Under the `defer` policy an old key counts as still in use while it was used this recently
# (a week covers weekly jobs; IAM reports last use with a delay of hours).
STILL_IN_USE = timedelta(days=7)
# rekey signs sts:GetCallerIdentity with a new key to verify it (retrying for up to a minute):
# a use by STS this soon after creation is rekey's, not a consumer's.
VERIFICATION_WINDOW = timedelta(hours=1)


def decide(
    keys: Sequence[AccessKey], secret: SecretState, policy: Policy, now: datetime, hold: str | None = None
) -> list[Action]:
    """The actions a user's keys need at `now`, in the order they must be carried out.

    First settle an interrupted rotation (finish it, or remove the orphan key nobody can
    have used), then apply the lifecycle to the settled state: warn about old keys still in
    use, deactivate and delete old keys, rotate the newest active key when it is due. While a
    rollback's pause lasts, only warnings are given. Never deactivates or deletes an active key
    to make room, never deletes the secret's current key, never plans a third key.

    A rotation, deactivation or deletion outside the policy's rotation window, or while `hold`
    says why rekey holds key changes (the breaker, the rollout's waves), is a WAIT instead.
    """
    return held(_plan(keys, secret, policy, now), policy, now, hold)


def held(plan: list[Action], policy: Policy, now: datetime, hold: str | None) -> list[Action]:
    """`plan` with each key-changing action that may not happen at `now` turned into a WAIT
    that says why and until when (the window's next opening)."""
    window = policy.window
    if hold is None and (window is None or window.is_open(now)):
        return plan
    if hold is None:
        assert window is not None
        opens = window.next_opening(now)
        hold = f"outside the rotation window {window.describe()}; it opens next {opens:%Y-%m-%d %H:%M %Z}"
    return [
        Action(ActionKind.WAIT, a.key_id, f"{a.kind.value} waits, {hold} (due: {a.reason})", held=a.kind)
        if a.kind in KEY_CHANGING
        else a
        for a in plan
    ]


def _plan(keys: Sequence[AccessKey], secret: SecretState, policy: Policy, now: datetime) -> list[Action]:
    keys = sorted(keys, key=lambda k: (k.created, k.key_id))  # the plan must not depend on order
    actions, keys, secret = settle_interrupted_rotation(keys, secret)
    paused = secret.paused(now.date())
    actions += _retire(keys, secret, policy, now)
    broken = current_problem(keys, secret)
    if paused:
        if broken:
            why = f"{broken}; the user's lifecycle is paused until {secret.paused_until}: rekey repairs it after"
            actions.append(Action(ActionKind.SECRET_BROKEN, secret.current_key_id, why))
        return actions
    if not keys and policy.create_first_key:
        return [*actions, Action(ActionKind.ROTATE, None, "has no access key; creating a first one (create-first-key)")]
    retired = {a.key_id for a in actions if a.kind is ActionKind.DELETE}
    deactivated = {a.key_id for a in actions if a.kind is ActionKind.DEACTIVATE}
    remaining = [k for k in keys if k.key_id not in retired]
    if broken:
        return actions + _repair(remaining, deactivated, secret, policy, now, broken)
    actions += _rotate(remaining, deactivated, secret, policy, now)
    return actions


def current_problem(keys: Sequence[AccessKey], secret: SecretState) -> str | None:
    """Why the secret's current version cannot serve its consumers (None: it can, or nothing
    read says otherwise): a value rekey cannot use, or a key that is gone or inactive."""
    if secret.current_unusable:
        return secret.current_unusable
    key_id = secret.current_key_id
    if key_id is None:
        return None
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        return f"the secret's current version holds {key_id}, which is not a key of the user (deleted, or never its)"
    if not key.active:
        return f"the secret's current version holds {key_id}, which is inactive"
    return None


def _repair(
    keys: Sequence[AccessKey],
    deactivating: set[str | None],
    secret: SecretState,
    policy: Policy,
    now: datetime,
    broken: str,
) -> list[Action]:
    """A rotation today, whatever the keys' ages, when the invariants allow one; otherwise the
    broken secret is announced with what would let rekey repair it."""
    newest = newest_active(keys)
    if newest is None:
        # Every key is inactive or gone: perhaps a person's containment. rekey creates no key.
        why = f"{broken}; the user has no active key, so rekey creates none: reactivate a key, or run rekey rotate-now"
        return [Action(ActionKind.SECRET_BROKEN, secret.current_key_id, why)]
    planned = _rotate(keys, deactivating, secret, replace(policy, rotate_after_days=0), now)
    rotation = next((a for a in planned if a.kind is ActionKind.ROTATE), None)
    if rotation is not None:
        reason = f"repair: {broken}"
        return [*(a for a in planned if a is not rotation), replace(rotation, reason=reason, repairs=broken)]
    # Blocked (the reason's part after "but"), or the other key is deactivated today first.
    blocked = next((a.reason.partition(" but ")[2] for a in planned if a.kind is ActionKind.BLOCKED), None)
    why = blocked or "the user's other key is deactivated today first; the repair follows once its slot is free"
    return [Action(ActionKind.SECRET_BROKEN, secret.current_key_id, f"{broken}; a rotation would repair it, but {why}")]


def settle_interrupted_rotation(
    keys: Sequence[AccessKey], secret: SecretState
) -> tuple[list[Action], list[AccessKey], SecretState]:
    """Actions that settle an interrupted rotation, and the keys and secret once settled."""
    intent = secret.intent
    if intent is None:
        return [], list(keys), secret
    actions: list[Action] = []
    kept: list[AccessKey] = []
    settled = secret
    for key in keys:
        if not _created_by_attempt(key, secret):
            kept.append(key)
        elif key.key_id == secret.pending_key_id:
            kept.append(key)
            if key.active:  # stored and usable: finish the job
                actions.append(
                    Action(ActionKind.FINISH_ROTATION, key.key_id, "an interrupted rotation staged this key")
                )
                settled = replace(secret, current_key_id=key.key_id, pending_key_id=None)
        elif key.last_used is None:
            actions.append(
                Action(
                    ActionKind.DELETE_ORPHAN,
                    key.key_id,
                    "an interrupted rotation created this key but never stored it; nobody can use it",
                )
            )
        else:
            kept.append(key)  # someone used it, so someone holds its secret: not ours to remove
    actions.append(Action(ActionKind.CLEAR_INTENT, None, "the interrupted rotation is settled"))
    return actions, kept, settled


def rotation_in_flight(secret: SecretState, now: datetime) -> bool:
    """A rotation began so recently that its worker may still be running. Until its intent is
    older than the longest a worker runs (plus the slack), the key it created and is about to
    store is indistinguishable from a crashed attempt's orphan: the user is left to it."""
    intent = secret.intent
    return intent is not None and now < intent.started_at + INTENT_WINDOW + INTENT_SLACK


def _created_by_attempt(key: AccessKey, secret: SecretState) -> bool:
    intent = secret.intent
    assert intent is not None
    return key.key_id != secret.current_key_id and created_under(key, intent)


def created_under(key: AccessKey, intent: Intent) -> bool:
    """Whether `key` was created by the rotation that recorded `intent`."""
    return (
        key.key_id not in intent.known_key_ids
        and intent.started_at - INTENT_SLACK <= key.created <= intent.started_at + INTENT_WINDOW
    )


def use_matters(keys: Sequence[AccessKey], secret: SecretState) -> bool:
    """Whether decide() can depend on when the keys were last used: to settle an interrupted
    rotation (a key someone used is not an orphan to remove) and to retire an active key that has
    a newer active one (warn, defer, wait for adoption). For any other user the worker does not
    ask IAM (a call per key)."""
    return secret.intent is not None or sum(k.active for k in keys) > 1


def newest_active(keys: Sequence[AccessKey]) -> AccessKey | None:
    """The key a rotation replaces: the most recently created active one."""
    active = [k for k in keys if k.active]
    return max(active, key=lambda k: (k.created, k.key_id)) if active else None


def _retire(keys: Sequence[AccessKey], secret: SecretState, policy: Policy, now: datetime) -> list[Action]:
    newest = newest_active(keys)
    today = now.date()
    # A pause postpones deactivation to the day after it ends, and stops deletion.
    until = secret.paused_until
    pause_days = (until - today).days + 1 if until is not None and today <= until else 0
    actions: list[Action] = []
    for key in keys:
        age = key.age_days(now)
        if key.key_id == secret.current_key_id:
            continue  # consumers read this key from the secret: only a rotation replaces it
        if key.active:
            if newest is not None and key is not newest:
                action = _retire_active(key, newest, secret, policy, now, pause_days)
                if action is not None:
                    actions.append(action)
        elif not pause_days and age >= policy.delete_after_days:
            reason = f"inactive and {age} days old (delete at {policy.delete_after_days})"
            actions.append(Action(ActionKind.DELETE, key.key_id, reason))
    return actions


def _retire_active(
    key: AccessKey, newest: AccessKey, secret: SecretState, policy: Policy, now: datetime, pause_days: int
) -> Action | None:
    """Deactivate an old active key when due; warn first when it is still in use."""
    age, newest_age = key.age_days(now), newest.age_days(now)
    # Days until due: old enough *and* its replacement has existed for the overlap.
    due_in = max(policy.deactivate_after_days - age, policy.overlap_days - newest_age)
    wait = max(due_in, pause_days)
    in_use = still_in_use(key, newest)
    today = now.date()
    warned_today = secret.in_use_warned == (key.key_id, today)
    if wait > 0:
        if in_use is None or wait > policy.in_use_warn_days or warned_today:
            return None
        when = today + timedelta(days=wait)
        note = f" (paused until {secret.paused_until})" if pause_days else ""
        if policy.max_defer_days:
            note += f", or later while still in use (at most {policy.max_defer_days} day(s) later)"
        return Action(
            ActionKind.WARN_IN_USE,
            key.key_id,
            f"{key.key_id} was used after its replacement {newest.key_id} was created ({describe_use(in_use)}); "
            f"it will be deactivated in {wait} day(s), on {when}{note}",
            in_use,
        )
    overdue = -due_in
    unconfirmed = unconfirmed_pickup(newest, secret, policy)
    waits_for = unconfirmed if adopted(newest) else f"{newest.key_id} has never been used by a consumer"
    if policy.in_use_policy is InUsePolicy.ADOPT and waits_for and age < policy.deactivate_deadline:
        if warned_today:
            return None
        deadline = today + timedelta(days=policy.deactivate_deadline - age)
        return Action(
            ActionKind.WARN_NOT_ADOPTED,
            key.key_id,
            f"{key.key_id} stays active while its replacement {newest.key_id}'s pickup is unconfirmed ({waits_for}), "
            f"and is deactivated on {deadline} at the latest (at {policy.deactivate_deadline} days, "
            "REKEY_MAX_DEACTIVATE_AFTER_DAYS)",
        )
    bound = policy.max_defer_days
    if in_use is not None and bound and overdue < bound and now - in_use.at <= STILL_IN_USE:
        if warned_today:
            return None
        latest = today + timedelta(days=bound - overdue)
        return Action(
            ActionKind.WARN_IN_USE,
            key.key_id,
            f"{key.key_id} is still in use ({describe_use(in_use)}): its deactivation is deferred "
            f"(day {overdue + 1} of at most {bound}); it will be deactivated on {latest} at the latest",
            in_use,
        )
    reason = (
        f"{age} days old (deactivate at {policy.deactivate_after_days}); "
        f"its replacement {newest.key_id} is {newest_age} days old"
    )
    if in_use is not None and bound and overdue >= bound:
        reason += f"; deferred {overdue} day(s) while in use, the most allowed"
    if policy.in_use_policy is InUsePolicy.ADOPT and not adopted(newest):
        reason += f"; its replacement was never used, and {policy.deactivate_deadline} days is the most it waits"
    if policy.deliver_to and unconfirmed is None:
        reason += f"; its replacement was picked up ({', '.join(policy.deliver_to)} synced, and used since)"
    return Action(ActionKind.DEACTIVATE, key.key_id, reason, in_use, unconfirmed=unconfirmed)


def pickup_wait(keys: Sequence[AccessKey], secret: SecretState, policy: Policy, now: datetime) -> Action | None:
    """Under `adopt`, the wait of an old key past its deactivation age for proof that its
    replacement was picked up (the WARN_NOT_ADOPTED decide() plans once a day), whether or not
    today's warning was already given: what the user's Security Hub finding says while it lasts."""
    if policy.in_use_policy is not InUsePolicy.ADOPT:
        return None
    plan = decide(keys, replace(secret, in_use_warned=None), policy, now)
    return next((a for a in plan if a.kind is ActionKind.WARN_NOT_ADOPTED), None)


def unconfirmed_pickup(newest: AccessKey, secret: SecretState, policy: Policy) -> str | None:
    """Why the consumers at the user's delivery destinations may not have `newest` (the key the
    secret holds current), or None when every destination says synced and a consumer has signed
    with it since (GetAccessKeyLastUsed): the proof an old key is retired on."""
    if not policy.deliver_to:
        return None
    current = newest.key_id if newest.key_id == secret.current_key_id else None
    behind = undelivered(policy.deliver_to, current, secret.delivered()) if current else list(policy.deliver_to)
    if behind:
        return f"{', '.join(behind)} {'does' if len(behind) == 1 else 'do'} not hold {newest.key_id}"
    if not adopted(newest):
        return f"no consumer has signed with {newest.key_id} yet"
    return None


def adopted(key: AccessKey) -> bool:
    """Whether a consumer has signed with `key`: any use but rekey's own verification (STS,
    within VERIFICATION_WINDOW of its creation)."""
    use = key.last_used
    if use is None:
        return False
    verification = (use.service or "").lower() == "sts" and use.at - key.created <= VERIFICATION_WINDOW
    return not verification


def describe_use(use: KeyUse) -> str:
    """`last used 2026-11-27 14:05 UTC, s3 in eu-west-1`: when, which service, which region."""
    service, region = use.service or "unknown service", use.region or "unknown region"
    return f"last used {use.at:%Y-%m-%d %H:%M} UTC, {service} in {region}"


def still_in_use(key: AccessKey, replacement: AccessKey) -> KeyUse | None:
    """The old key's last use if it was used after its replacement appeared and the replacement
    has not been used since: a consumer that moved (e.g. through `rekey credential-process`,
    which signs one last read of the secret with the old key) signs with the new key from then on."""
    use = key.last_used
    if use is None or use.at <= replacement.created:
        return None
    if replacement.last_used is not None and replacement.last_used.at >= use.at:
        return None
    return use


def _rotate(
    keys: Sequence[AccessKey],
    deactivating: set[str | None],
    secret: SecretState,
    policy: Policy,
    now: datetime,
) -> list[Action]:
    newest = newest_active(keys)
    if newest is None:
        return []
    age = newest.age_days(now)
    if age < policy.rotate_after_days:
        return []
    rotate = Action(
        ActionKind.ROTATE,
        newest.key_id,
        f"{age} days old (rotate at {policy.rotate_after_days})",
    )
    others = [k for k in keys if k is not newest]
    if len(others) < MAX_KEYS - 1:
        return [rotate]
    (other,) = others
    if other.key_id in deactivating:
        return []  # retired today; its slot frees up once it is inactive
    if other.active:
        return [
            Action(
                ActionKind.BLOCKED,
                newest.key_id,
                f"due for rotation ({age} days old) but both keys are active and neither can be "
                f"retired yet; deactivate or delete {other.key_id} to let rekey rotate",
            )
        ]
    if other.key_id == secret.current_key_id:
        return [
            Action(
                ActionKind.BLOCKED,
                newest.key_id,
                f"due for rotation ({age} days old) but the only other key, {other.key_id}, is "
                "inactive and still the secret's current key",
            )
        ]
    make_room = Action(
        ActionKind.DELETE,
        other.key_id,
        "inactive; deleted early to make room for the rotation",
    )
    return [make_room, rotate]
