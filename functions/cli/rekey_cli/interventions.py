"""An operator's interventions on one user: rotate its key now (incident response), or roll its
last rotation back and pause its lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from rekey.adapters.secrets import PREVIOUS
from rekey.domain import errors
from rekey.domain.entities import Account
from rekey.domain.manual import plan_rollback
from rekey.domain.models import KeyStatus
from rekey.domain.naming import secret_name
from rekey.messages import Event, Severity, WorkAction, WorkItem
from rekey.runtime import Runtime
from rekey.use_cases.announce import notice, publish
from rekey.use_cases.work import OperatorRequest, WorkOutcome, run_work_item

from .targets import find_account, find_user, operator, require_opted_in

DEFAULT_PAUSE_DAYS = 7


def rotate_now(rt: Runtime, account_id: str, user_name: str, *, revoke_old: bool = False) -> WorkOutcome:
    """Rotate the user's newest active key at once, through the worker's own code path (the
    same re-checks and invariants); with `revoke_old`, deactivate it once its replacement is
    stored."""
    who = operator(rt)
    account = find_account(rt, account_id)
    adapters = rt.account(account.account_id, write=True)
    user = find_user(adapters, account, user_name)
    require_opted_in(rt, user, account)
    active = sorted((k for k in adapters.iam.access_keys(user.name) if k.active), key=lambda k: (k.created, k.key_id))
    item = WorkItem(
        account_id=account.account_id,
        user_name=user.name,
        key_id=active[-1].key_id if active else None,  # a repeated delivery finds it replaced
        action=WorkAction.ROTATE,
        reason="rekey rotate-now" + (" --revoke-old" if revoke_old else ""),
        sweep_id=f"manual-{rt.now():%Y%m%dT%H%M%S%fZ}",
    )
    return run_work_item(rt, item, request=OperatorRequest(who, revoke_old=revoke_old))


@dataclass
class RollbackResult:
    account: Account
    user_name: str
    key_id: str
    reactivated: bool
    paused_until: date
    secret_name: str
    message: str


def rollback(rt: Runtime, account_id: str, user_name: str, *, until: date | None = None) -> RollbackResult:
    """Reactivate the key rekey's last rotation replaced (only before it is deleted) and pause
    the user's lifecycle until `until` (inclusive). The pause is a tag on the user's secret, so
    it needs no IAM permission beyond the key calls rekey already has. Announced."""
    s = rt.settings
    now = rt.now()
    today = now.date()
    until = until or today + timedelta(days=min(DEFAULT_PAUSE_DAYS, s.max_pause_days))
    if until < today:
        raise errors.UsageError(f"--until {until} is in the past (today is {today} UTC)")
    if until > today + timedelta(days=s.max_pause_days):
        raise errors.UsageError(
            f"--until {until} is more than {s.max_pause_days} days away (REKEY_MAX_PAUSE_DAYS); "
            "an old key must not stay active indefinitely"
        )
    who = operator(rt)
    account = find_account(rt, account_id)
    adapters = rt.account(account.account_id, write=True)
    user = find_user(adapters, account, user_name)
    require_opted_in(rt, user, account)
    name = secret_name(s.secret_name, user.name, account.account_id)
    record = adapters.secrets.read(name)
    if record.foreign:
        raise errors.Refused(f"{name} was not created by rekey; nothing rolled back")
    if record.state.exists and record.owner_user_id != user.user_id:
        raise errors.Refused(f"secret {name} belongs to another user; nothing rolled back")
    previous = record.state.previous_key_id
    if previous is None and record.previous_version_id:  # written by someone else
        previous = adapters.secrets.stage_key_id(name, PREVIOUS)
    keys = adapters.iam.access_keys(user.name)
    plan = plan_rollback(keys, record.state, previous)
    # Pause first: should reactivating fail, the pause alone harms nobody; the other way round,
    # the next sweep would deactivate the key again.
    adapters.secrets.pause(name, until)
    if plan.reactivate:
        adapters.iam.set_status(user.name, plan.key_id, KeyStatus.ACTIVE)
        done = f"reactivated {plan.key_id}, which rekey had deactivated"
    else:
        done = f"{plan.key_id} is still active; nothing to reactivate"
    message = (
        f"{done}; the lifecycle of {user.name} is paused until {until} (inclusive), at the request of {who}; "
        f"{name} still holds the new key as current"
    )
    publish(
        rt,
        [
            notice(
                Event.ROLLED_BACK,
                Severity.WARNING,
                account.account_id,
                message,
                now,
                user=user,
                key_id=plan.key_id,
                secret_name=name,
                paused_until=until,
            )
        ],
    )
    return RollbackResult(account, user.name, plan.key_id, plan.reactivate, until, name, message)
