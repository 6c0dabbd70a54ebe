"""What an admitted run carries out, by who asked: a sweep's work item (today's plan, re-decided,
up to the item's action), an operator's request (rekey.domain.manual), or a step of Secrets
Manager's rotation of the user's secret (rekey's protocol, cut where Secrets Manager cuts it)."""

from __future__ import annotations

import logging

from ...domain import errors
from ...domain.delivery import undelivered
from ...domain.lifecycle import decide, held
from ...domain.manual import Request, decide_request
from ...domain.models import KEY_CHANGING, Action, ActionKind
from ...domain.work_plan import first_rotation, through, waiting, why_not_due
from ...messages import Event, Severity
from ..rollout import count_attempt, hold_for
from .actions import announce_if_done, perform
from .context import Work
from .delivery import deliver
from .protocol import clear_intent, promote, verify
from .secrets_manager import enable_rotation
from .values import OperatorRequest, RotationStep, WorkOutcome

log = logging.getLogger(__name__)


def act(work: Work) -> WorkOutcome:
    if work.request is not None:
        return act_on_request(work, work.request)
    if work.step is not None:
        return act_on_step(work, work.step)
    if work.item.action.kind is ActionKind.DELIVER:
        return act_on_delivery(work)
    return act_on_item(work)


def act_on_delivery(work: Work) -> WorkOutcome:
    """The current key pushed to the destinations that do not hold it yet, if it is still the
    key the scan saw current (else a rotation since has pushed its own)."""
    state, voice = work.record.state, work.voice
    if state.current_key_id is None or state.current_key_id != work.item.key_id:
        return voice.outcome("noop", "the current key changed since the scan: its rotation delivered it")
    behind = undelivered(work.policy.deliver_to, state.current_key_id, state.delivered())
    if not behind:
        return voice.outcome("noop", "every destination holds the current key")
    failed = deliver(work, work.record.current_version_id, only=behind)
    return voice.outcome("done", f"delivered to {len(behind) - failed} of {len(behind)} destination(s)")


def planned(work: Work) -> list[Action]:
    """Today's plan for the user, its key changes held while the hub holds them (the breaker,
    the rollout's waves: read only when the plan changes a key)."""
    now = work.voice.now
    plan = decide(work.listed, work.record.state, work.policy, now)
    if any(a.kind in KEY_CHANGING for a in plan):
        hold = hold_for(work.ports, work.item.account_id, now)
        if hold is not None:
            return held(plan, work.policy, now, hold)
    return plan


def _changing(work: Work, todo: list[Action]) -> None:
    """Count a run about to change a key, for the breaker's share of the day."""
    if any(a.kind in KEY_CHANGING for a in todo):
        count_attempt(work.ports, work.voice.now)


def act_on_item(work: Work) -> WorkOutcome:
    """Re-decide, and carry out the fresh plan up to and including the item's action (an
    interrupted rotation that needs only settling is settled, its announcement, if it was never
    made, with it: see protocol.clear_intent)."""
    item, record = work.item, work.record
    plan = planned(work)
    if record.state.current_unusable:  # read from the value: the scan could not see it
        for broken in (a for a in plan if a.kind is ActionKind.SECRET_BROKEN):
            work.notice(Event.SECRET_BROKEN, Severity.ERROR, broken.reason, secret_name=work.name)
    todo = through(plan, item.action.kind, item.key_id)
    if todo is None:
        held = waiting(plan, item.action.kind, item.key_id)
        if held is not None:  # the next sweep queues it again
            return work.voice.outcome("waiting", held.reason)
        return _not_planned(work)
    _changing(work, todo)
    for action in todo:
        perform(work, action)
    if record.current_version_id is not None:  # e.g. a secret from before rotation was enabled
        enable_rotation(work, work.settings.rotation_function_arn(item.account_id))
    return work.voice.outcome("done", "; ".join(a.kind.value for a in todo), todo)


def _not_planned(work: Work) -> WorkOutcome:
    """An item today's plan has no action for: stale or a duplicate, or one naming another
    user's key (forged or misrouted: said)."""
    item = work.item
    if item.key_id and item.key_id not in work.keys and work.iam.key_owner(item.key_id) not in (None, work.user.name):
        message = f"work item names {item.key_id}, a key of another user; ignored"
        work.notice(Event.REJECTED, Severity.WARNING, message, key_id=item.key_id)
        return work.voice.outcome("rejected", "the key belongs to another user")
    if work.redelivered:
        announce_if_done(work)
    return work.voice.outcome("noop", "no longer needed (already done, or the keys changed)")


def act_on_request(work: Work, operator: OperatorRequest) -> WorkOutcome:
    """An operator's request: decided by decide_request(), within the same invariants."""
    item, voice = work.item, work.voice
    who = f" by {operator.requested_by}"
    request = Request(
        item.action.kind,
        item.key_id,
        revoke_old=operator.revoke_old,
        leaked_key_id=operator.leaked_key_id,
        create_first_key=work.policy.create_first_key,
        reason=f"requested{who}" + (f": {item.reason}" if item.reason else ""),
        floor=work.settings.min_overlap_days if operator.classic else None,
    )
    plan = decide_request(request, work.listed, work.record.state, voice.now)
    for action in plan.actions:
        perform(work, action)
        if action.kind is ActionKind.DEACTIVATE and action.key_id in plan.revoked:
            _mark_revoked(work, action.key_id)
    if plan.refused:
        message = f"{item.action.value} requested{who} refused: {plan.refused}"
        work.notice(Event.REJECTED, Severity.WARNING, message, key_id=item.key_id, secret_name=work.name)
        return voice.outcome("rejected", plan.refused, plan.actions)
    if plan.skipped:
        return voice.outcome("noop", plan.skipped, plan.actions)
    return voice.outcome("done", "; ".join(a.kind.value for a in plan.actions), plan.actions)


def _mark_revoked(work: Work, key_id: str) -> None:
    """Revoked as leaked: a rollback must never bring it back. A user without a secret (a leak
    of a key rekey never stored) has nothing a rollback could go back to."""
    try:
        work.secrets.mark_revoked(work.name, key_id, work.record.state.revoked_key_ids)
    except errors.NotFound:
        log.info("%s has no secret to record %s revoked on", work.user.name, key_id)


def act_on_step(work: Work, step: RotationStep) -> WorkOutcome:
    """A step of Secrets Manager's rotation: createSecret records the intent, creates the key
    and stages it in the step's version (if the user's policy says a rotation is due now, as for
    a sweep's item); setSecret has nothing to do (IAM holds the key from its creation);
    testSecret signs as the user with the staged key; finishSecret makes it current and
    announces the rotation."""
    record, token, voice = work.record, step.token, work.voice
    if record.current_version_id == token:
        if step.step == "finishSecret" and record.state.intent is not None:
            clear_intent(work, Action(ActionKind.CLEAR_INTENT, None, "rotation finished"))
        return voice.outcome("noop", f"{token} is current already: the rotation is done")
    staged = record.pending_version_id == token and record.state.pending_key_id is not None
    if step.step == "createSecret":
        return _create_step(work, token) if not staged else voice.outcome("noop", f"a key is staged in {token}")
    if step.step == "finishSecret":  # testSecret signed with the staged key already
        key_id = record.state.pending_key_id if staged else None
        if key_id is None or key_id not in work.keys:
            raise errors.KeyVerificationFailed(f"version {token} of {work.name} holds no key of {work.user.name}")
        promote(work, token, key_id)
        return voice.outcome("done", f"{key_id} is now current in {work.name}")
    ours = record.state.intent is not None and record.state.intent.token == token
    key = work.secrets.staged_key(work.name, token) if record.pending_version_id == token else None
    if key is None and not ours:
        # Rotation being enabled (RotateImmediately false): Secrets Manager tests the function.
        return voice.outcome("noop", f"rekey may rotate {work.user.name}'s keys (a test of the configuration)")
    if key is None or key.key_id not in work.keys:
        raise errors.KeyVerificationFailed(f"version {token} of {work.name} holds no key of {work.user.name}")
    verify(work, key)
    return voice.outcome("done", f"{key.key_id} signs as {work.user.name}")


def _create_step(work: Work, token: str) -> WorkOutcome:
    """createSecret: what a sweep's rotation item would do now, the key staged in `token`."""
    plan = planned(work)
    todo = first_rotation(plan)
    if todo is None:
        why = why_not_due(work.listed, work.policy, plan)
        if work.record.pending_version_id == token:
            work.secrets.drop_pending(work.name, token)  # else Secrets Manager refuses the next rotation
        message = f"Secrets Manager's rotation of {work.name} refused: {why}; `rekey rotate-now` rotates it now"
        work.notice(Event.REJECTED, Severity.WARNING, message, secret_name=work.name)
        return work.voice.outcome("rejected", why)
    _changing(work, todo)
    for action in todo:
        perform(work, action)
    return work.voice.outcome("done", f"{'; '.join(a.kind.value for a in todo)} (staged in {token})", todo)
