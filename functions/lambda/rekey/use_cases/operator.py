"""An operator's request, carried out by the hub for a caller AWS authenticated: rotate a user's
key now (incident response), or roll its last rotation back and pause its lifecycle.

The caller is whoever signed the request to the hub's operator endpoint (a function URL with
AuthType AWS_IAM), never a value the caller chose. Who may ask, and for which accounts, is the
hub's configuration (REKEY_OPERATORS); the account must also be one rekey covers, and the user
tagged in and not refused. Both requests act through the spoke writer role, with the worker's
own code path and invariants; operators never hold that role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..domain import errors
from ..domain.entities import Account, IamUser
from ..domain.manual import plan_rollback
from ..domain.models import KeyStatus
from ..domain.naming import secret_name
from ..domain.operators import ALL_ACCOUNTS, grant_for
from ..domain.policy import OptIn, opt_in
from ..domain.rollout import Halt
from ..domain.scope import Scope
from ..domain.secret_state import PREVIOUS
from ..messages import Event, Notification, OperatorCommand, Severity, WorkAction, WorkItem
from ..ports import MemberAccount, Ports
from .announce import notice, publish
from .rollout import broke, resume
from .scan import assess_user
from .scope import account_in_scope, account_refusal
from .work import OperatorRequest, WorkOutcome, run_work_item

DEFAULT_PAUSE_DAYS = 7


@dataclass
class RollbackResult:
    account: Account
    user_name: str
    key_id: str
    reactivated: bool
    paused_until: date
    secret_name: str
    message: str
    # Why its announcement could not be published (the rollback itself was done), or None.
    unannounced: str | None = None


def carry_out(ports: Ports, caller: str, command: OperatorCommand) -> WorkOutcome | RollbackResult | Resumed:
    """`command`, asked by `caller` (the ARN AWS authenticated). A request the caller may not
    make (errors.Forbidden) or that rekey refuses (errors.Refused) is announced as `rejected`,
    naming the caller, and raised; so is a failure (announced as `failed`)."""
    try:
        if command.command == "resume":
            return resume_all(ports, caller)
        assert command.account_id is not None and command.user_name is not None  # OperatorCommand's rule
        authorize(ports, caller, command.account_id)
        if command.command == "rotate-now":
            return rotate_now(
                ports,
                caller,
                command.account_id,
                command.user_name,
                revoke_old=command.revoke_old,
                leaked=command.key_id,
            )
        return rollback(ports, caller, command.account_id, command.user_name, until=command.until)
    except (errors.Forbidden, errors.Refused) as exc:
        severity = Severity.ERROR if isinstance(exc, errors.Forbidden) else Severity.WARNING
        announce(ports, caller, Event.REJECTED, severity, command, f"refused: {exc}")
        raise
    except errors.UsageError:
        raise  # a typo: nothing was asked of anyone
    except errors.RekeyError as exc:
        announce(ports, caller, Event.FAILED, Severity.ERROR, command, f"failed: {exc.code}: {exc}")
        raise


def answer_of(command: OperatorCommand, done: WorkOutcome | RollbackResult | Resumed) -> dict[str, Any]:
    """What the operator is answered: the outcome, with what was announced, or the rollback."""
    if isinstance(done, Resumed):
        halt = done.halt
        return {
            "command": command.command,
            "resumed": halt is not None,
            "halted_since": halt.since.isoformat() if halt else None,
            "evidence": list(halt.evidence) if halt else [],
        }
    if isinstance(done, WorkOutcome):
        events = [n.model_dump(mode="json", exclude_none=True) for n in done.notifications]
        return {"command": command.command, "status": done.status, "detail": done.detail, "events": events}
    return {
        "command": command.command,
        "account_id": done.account.account_id,
        "user_name": done.user_name,
        "key_id": done.key_id,
        "reactivated": done.reactivated,
        "paused_until": done.paused_until.isoformat(),
        "secret_name": done.secret_name,
        "message": done.message,
        "unannounced": done.unannounced,
    }


@dataclass(frozen=True)
class Resumed:
    """`rekey resume`: the halt it cleared, or None when rekey was not halted."""

    halt: Halt | None


def resume_all(ports: Ports, caller: str) -> Resumed:
    """Resume key changes everywhere: only an operator of every account (`*`) may."""
    grant = grant_for(ports.settings.operators, caller)
    if grant is None or ALL_ACCOUNTS not in grant.scopes:
        raise errors.Forbidden(
            f"{caller} may not resume rekey: that is for operators of every account (REKEY_OPERATORS scope *)"
        )
    return Resumed(resume(ports, caller))


def admit(ports: Ports, caller: str) -> None:
    """errors.Forbidden, announced, unless `caller` is an operator of this hub at all (before
    its request is read)."""
    if grant_for(ports.settings.operators, caller) is None:
        refused = errors.Forbidden(_not_an_operator(caller))
        reject(ports, caller, str(refused))
        raise refused


def reject(ports: Ports, caller: str, why: str) -> None:
    """Announce a request refused before it could be read (not an operator, malformed)."""
    announce(ports, caller, Event.REJECTED, Severity.ERROR, None, f"refused: {why}")


def announce(
    ports: Ports, caller: str, event: Event, severity: Severity, command: OperatorCommand | None, outcome: str
) -> None:
    what = "an operator's request"
    if command is not None:
        what = f"{command.command} of {command.user_name}" if command.user_name else command.command
    # A request refused before it was read, or the organization's, is the hub's business.
    account = command.account_id if command and command.account_id else ports.settings.hub_account_id
    n = notice(
        event,
        severity,
        account,
        f"{what} requested by {caller} {outcome}",
        ports.now(),
        user_name=command.user_name if command else None,
        requested_by=caller,
    )
    publish(ports, [n])


def authorize(ports: Ports, caller: str, account_id: str) -> None:
    """errors.Forbidden unless REKEY_OPERATORS lets `caller` act on `account_id`."""
    grant = grant_for(ports.settings.operators, caller)
    if grant is None:
        raise errors.Forbidden(_not_an_operator(caller))
    if not grant.covers(account_id, lambda ous: ports.organizations().accounts_under(ous)):
        raise errors.Forbidden(
            f"{caller} may not act on account {account_id}: REKEY_OPERATORS gives its role {grant.describe()}"
        )


def _not_an_operator(caller: str) -> str:
    return f"{caller} is not an operator of this hub (REKEY_OPERATORS names the roles that are)"


def rotate_now(
    ports: Ports,
    caller: str,
    account_id: str,
    user_name: str,
    *,
    revoke_old: bool = False,
    leaked: str | None = None,
) -> WorkOutcome:
    """Rotate the user's newest active key at once, through the worker's own code path (the
    same re-checks and invariants); with `revoke_old`, deactivate it once its replacement is
    stored. With `leaked` (a key id), revoke that key, replacing it first if consumers read it
    from the secret, also while the user has two active keys (rekey.domain.manual)."""
    account = find_account(ports, account_id)
    member = ports.account(account.account_id, write=True)
    user = find_user(member, account, user_name)
    require_opted_in(ports, user, account)
    active = sorted((k for k in member.iam.access_keys(user.name) if k.active), key=lambda k: (k.created, k.key_id))
    item = WorkItem(
        account_id=account.account_id,
        user_name=user.name,
        key_id=active[-1].key_id if active else None,  # a repeated request finds it replaced
        action=WorkAction.ROTATE,
        reason="rekey rotate-now" + (" --revoke-old" if revoke_old else "") + (f" --key-id {leaked}" if leaked else ""),
        sweep_id=f"manual-{ports.now():%Y%m%dT%H%M%S%fZ}",
    )
    return run_work_item(ports, item, request=OperatorRequest(caller, revoke_old=revoke_old, leaked_key_id=leaked))


def rollback(
    ports: Ports, caller: str, account_id: str, user_name: str, *, until: date | None = None
) -> RollbackResult:
    """Reactivate the key rekey's last rotation replaced (only before it is deleted) and pause
    the user's lifecycle until `until` (inclusive). The pause is a tag on the user's secret, so
    it needs no IAM permission beyond the key calls rekey already has. Announced."""
    s = ports.settings
    now = ports.now()
    today = now.date()
    until = until or today + timedelta(days=min(DEFAULT_PAUSE_DAYS, s.max_pause_days))
    if until < today:
        raise errors.UsageError(f"--until {until} is in the past (today is {today} UTC)")
    if until > today + timedelta(days=s.max_pause_days):
        raise errors.UsageError(
            f"--until {until} is more than {s.max_pause_days} days away (REKEY_MAX_PAUSE_DAYS); "
            "an old key must not stay active indefinitely"
        )
    account = find_account(ports, account_id)
    member = ports.account(account.account_id, write=True)
    user = find_user(member, account, user_name)
    require_opted_in(ports, user, account)
    name = secret_name(s.secret_name, user.name, account.account_id)
    record = member.secrets.read(name)
    if record.foreign:
        raise errors.Refused(f"{name} was not created by rekey; nothing rolled back")
    if record.state.exists and record.owner_user_id != user.user_id:
        raise errors.Refused(f"secret {name} belongs to another user; nothing rolled back")
    previous = record.state.previous_key_id
    if previous is None and record.previous_version_id:  # written by someone else
        previous = member.secrets.stage_key_id(name, PREVIOUS)
    keys = member.iam.access_keys(user.name)
    plan = plan_rollback(keys, record.state, previous)
    # Pause first: should reactivating fail, the pause alone harms nobody; the other way round,
    # the next sweep would deactivate the key again.
    member.secrets.pause(name, until)
    if plan.reactivate:
        member.iam.set_status(user.name, plan.key_id, KeyStatus.ACTIVE)
        done = f"reactivated {plan.key_id}, which rekey had deactivated"
        # A deactivation someone had to undo: a sign of breakage for the breaker and the waves.
        broke(ports, account.account_id, user.name, f"rolled back {plan.key_id} by {caller}", now)
    else:
        # Nothing to undo yet: the pause is what keeps the replaced key from being deactivated.
        done = f"{plan.key_id} is still active, nothing to reactivate: the pause keeps it active"
    message = (
        f"{done}; the lifecycle of {user.name} is paused until {until} (inclusive), at the request of {caller}; "
        f"{name} still holds the new key as current"
    )
    rolled_back: Notification = notice(
        Event.ROLLED_BACK,
        Severity.WARNING,
        account.account_id,
        message,
        now,
        user=user,
        key_id=plan.key_id,
        secret_name=name,
        paused_until=until,
        requested_by=caller,
    )
    try:
        publish(ports, [rolled_back], strict=True)
        unannounced = None
    except errors.RekeyError as exc:  # done all the same: the caller is told, and the log has it
        unannounced = f"{exc.code}: {exc}"
    return RollbackResult(account, user.name, plan.key_id, plan.reactivate, until, name, message, unannounced)


def find_account(ports: Ports, account_id: str) -> Account:
    """The account, if rekey works in it (rekey.use_cases.scope); otherwise UsageError saying why not."""
    if not (account_id.isdigit() and len(account_id) == 12):
        raise errors.UsageError(f"{account_id!r} is not a 12-digit account id")
    account = account_in_scope(ports, account_id)
    if account is None:
        raise errors.UsageError(str(account_refusal(ports, account_id)))
    return account


def _label(account: Account) -> str:
    return f"{account.account_id} ({account.name})" if account.name else account.account_id


def find_user(member: MemberAccount, account: Account, user_name: str) -> IamUser:
    """The user with its policies (an operator's request is refused for a privileged user)."""
    try:
        return member.iam.get_user(user_name, with_grants=True)
    except errors.NotFound:
        raise errors.UsageError(f"no IAM user {user_name!r} in account {_label(account)}") from None


def require_opted_in(ports: Ports, user: IamUser, account: Account) -> None:
    """Refused unless the user is tagged in and rekey may act on it (rekey.domain.privilege)."""
    state, why = opt_in(user.tags, ports.settings.tag_key)
    if state is not OptIn.IN:
        raise errors.Refused(
            f"{user.name} is not opted in ({why}): rekey only touches users tagged {ports.settings.tag_key}=true"
        )
    assessment = assess_user(ports, user, account.account_id, ports.now())
    if assessment.scope is Scope.REFUSED:
        raise errors.Refused(f"{user.name} is refused: {assessment.why}")
