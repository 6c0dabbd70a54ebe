"""Which of today's plan (rekey.domain.lifecycle.decide) a work item carries out, and why a
rotation nobody planned is not due: the worker's pure decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from .models import ANNOUNCE_ONLY, AccessKey, Action, ActionKind, Policy

# What settles an interrupted rotation (rekey.domain.lifecycle.settle_interrupted_rotation).
SETTLE = frozenset({ActionKind.FINISH_ROTATION, ActionKind.DELETE_ORPHAN, ActionKind.CLEAR_INTENT})
# What a worker never carries out: what is only announced, and what waits.
NOT_CARRIED_OUT = ANNOUNCE_ONLY | {ActionKind.WAIT}


def through(plan: Sequence[Action], kind: ActionKind, key_id: str | None) -> list[Action] | None:
    """What to carry out for an item asking for `kind` on `key_id`: the plan up to and including
    the matching action (what must come first, such as making room, first), less what is only
    announced; None when today's plan has no such action (the item is stale or a duplicate).
    A rotation whose plan is only the settling of an interrupted one settles it."""
    position = next((i for i, a in enumerate(plan) if a.matches(kind, key_id)), None)
    if position is None and kind is ActionKind.ROTATE and plan and all(a.kind in SETTLE for a in plan):
        position = len(plan) - 1
    if position is None:
        return None
    return [a for a in plan[: position + 1] if a.kind not in NOT_CARRIED_OUT]


def first_rotation(plan: Sequence[Action]) -> list[Action] | None:
    """Today's plan up to its rotation (Secrets Manager's createSecret), or None if none is due."""
    position = next((i for i, a in enumerate(plan) if a.kind is ActionKind.ROTATE), None)
    return None if position is None else [a for a in plan[: position + 1] if a.kind not in NOT_CARRIED_OUT]


def waiting(plan: Sequence[Action], kind: ActionKind, key_id: str | None) -> Action | None:
    """The WAIT that holds the action `kind` on `key_id` (outside the rotation window, or held
    by the breaker or the waves), if today's plan has one."""
    return next((a for a in plan if a.kind is ActionKind.WAIT and a.held is kind and a.key_id == key_id), None)


def why_not_due(keys: Sequence[AccessKey], policy: Policy, plan: Sequence[Action]) -> str:
    """Why the user's policy does not rotate now, in one line."""
    held = next((a for a in plan if a.kind is ActionKind.WAIT and a.held is ActionKind.ROTATE), None)
    if held is not None:
        return held.reason
    if plan:
        return "the user's keys need " + ", ".join(a.kind.value for a in plan) + " first, not a rotation"
    newest = max((k for k in keys if k.active), key=lambda k: k.created, default=None)
    if newest is None:
        return "the user has no active key, and its policy creates no first key"
    due = (newest.created + timedelta(days=policy.rotate_after_days)).date()
    return f"{newest.key_id} is not due until {due} (rotation every {policy.rotate_after_days} days)"
