"""Admission: who may be acted on, re-checked whoever sent the item, and what is true of it
now. Returns a frozen Subject (the user, its policy, its secret, its keys as read) or stops
the run, announced."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ...domain import errors
from ...domain.entities import IamUser, SecretRecord
from ...domain.lifecycle import current_problem, rotation_in_flight
from ...domain.models import AccessKey, Policy
from ...domain.naming import secret_name
from ...domain.policy import OptIn, opt_in
from ...domain.scope import Scope
from ...messages import Event, Severity, WorkItem
from ...ports import AccountIam, Ports, UserSecrets
from ..announce import foreign_secret
from ..scan import assess_user, delivery_problem, read_keys, with_destinations
from ..scope import account_refusal
from .values import OperatorRequest, RotationStep, Stop
from .voice import Voice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subject:
    """A user admitted for one work item, as read at admission: the member account's IAM and
    secrets (through the writer role), the user, the policy it is under, its secret and keys."""

    iam: AccountIam
    secrets: UserSecrets
    user: IamUser
    policy: Policy
    name: str
    record: SecretRecord
    keys: tuple[AccessKey, ...]


def admit(
    ports: Ports, item: WorkItem, voice: Voice, request: OperatorRequest | None, step: RotationStep | None
) -> Subject:
    """The account, the user, its tag and its standing; then its secret and keys as they are
    now. Whatever may not be acted on stops the run here (Stop), announced."""
    outside = account_refusal(ports, item.account_id)
    if outside is not None:
        voice.notice(Event.REJECTED, Severity.ERROR, f"work item refused: {outside}", None)
        raise Stop("rejected", outside)
    member = ports.account(item.account_id, write=True)
    later = step is not None and step.later
    user = _opted_in_user(member.iam, item, voice, ports.settings.tag_key, later)
    policy = _later_policy(ports, user, item.account_id) if later else _standing(ports, item, voice, request, user)
    name = secret_name(ports.settings.secret_name, user.name, item.account_id)
    record = _secret(member.secrets, name, user, voice, ports.settings.max_pause_days)
    if later:
        keys = member.iam.access_keys(user.name, with_last_use=False)
    else:  # an operator's request reads when the keys were last used whatever the plan
        keys = read_keys(member.iam, user.name, record.state, last_use=request is not None)
    _mark_checked(member.secrets, name, record, keys)
    intent = record.state.intent
    own = step is not None and intent is not None and intent.token == step.token
    if rotation_in_flight(record.state, voice.now) and not own:
        # Its worker may be about to store the key it created: acting now could remove that key
        # as an orphan. The next run settles it if the worker died.
        raise Stop("noop", "a rotation of this user began minutes ago and may still be running")
    return Subject(member.iam, member.secrets, user, policy, name, record, tuple(keys))


def _opted_in_user(iam: AccountIam, item: WorkItem, voice: Voice, tag_key: str, later: bool) -> IamUser:
    """The user, read afresh (with its policies, to judge its privileges, unless a later step
    of Secrets Manager's rotation), if it exists and is opted in."""
    try:
        user = iam.get_user(item.user_name, with_grants=not later)
    except errors.NotFound:
        voice.notice(Event.REJECTED, Severity.WARNING, "work item for a user that does not exist; ignored", None)
        raise Stop("rejected", "no such user") from None
    state, why = opt_in(user.tags, tag_key)
    if state is not OptIn.IN:
        voice.notice(Event.REJECTED, Severity.WARNING, f"work item for a user not opted in ({why}); ignored", user)
        raise Stop("rejected", why)
    return user


def _standing(ports: Ports, item: WorkItem, voice: Voice, request: OperatorRequest | None, user: IamUser) -> Policy:
    """The policy the user is under, if it may be acted on: never a refused user, whoever asks;
    a misconfigured or exempt one only for an operator (whose request uses no ages, and the
    opt-in tag, all the spoke role checks, is there). The classic event is no operator."""
    assessment = assess_user(ports, user, item.account_id, voice.now)
    if assessment.scope is Scope.REFUSED:
        voice.notice(Event.REFUSED, Severity.ERROR, f"refused, never touched: {assessment.why}", user)
        raise Stop("rejected", assessment.why)
    operator = request is not None and request.operator
    if not operator and assessment.scope is Scope.MISCONFIGURED:
        voice.notice(Event.MISCONFIGURED, Severity.WARNING, f"left untouched: {assessment.why}", user)
        raise Stop("rejected", assessment.why)
    if not operator and assessment.scope is Scope.EXEMPT:
        if request is not None:  # the classic event's sender is told
            refused = f"the classic manual event refused: {assessment.why}"
            voice.notice(Event.REJECTED, Severity.WARNING, refused, user)
            raise Stop("rejected", assessment.why)
        raise Stop("noop", assessment.why)
    return assessment.policy or ports.settings.policy


def _later_policy(ports: Ports, user: IamUser, account_id: str) -> Policy:
    """A later step's: the org-wide policy (it acts only on the key createSecret created), with
    the destinations finishSecret pushes that key to, while the hub still approves them."""
    if delivery_problem(ports, user, account_id):
        return ports.settings.policy
    return with_destinations(ports.settings.policy, user, ports.settings)


def _secret(secrets: UserSecrets, name: str, user: IamUser, voice: Voice, max_pause_days: int) -> SecretRecord:
    """The user's secret as it is now, if rekey may use it."""
    record = secrets.read(name)
    if record.foreign:
        voice.notice(Event.CONFLICT, Severity.ERROR, foreign_secret(name, user), user, secret_name=name)
        raise Stop("rejected", "a secret rekey did not create holds the user's secret name")
    if record.owner_user_id != user.user_id and record.state.exists:
        message = f"secret {name} belongs to another user; set a distinct secret name"
        voice.notice(Event.BLOCKED, Severity.ERROR, message, user, secret_name=name)
        raise Stop("rejected", "secret name collision")
    # A pause longer than rekey ever sets was written by hand: ignored (the scan announces it).
    return replace(record, state=record.state.bounded(voice.now.date(), max_pause_days)[0])


def _mark_checked(secrets: UserSecrets, name: str, record: SecretRecord, keys: list[AccessKey]) -> None:
    """A current version someone else wrote, found to hold a usable key of the user: the scan
    stops having it checked. Failing to record that costs only another check tomorrow."""
    if record.foreign_current_checked is not False or record.current_version_id is None:
        return
    if record.state.current_key_id is None or current_problem(keys, record.state):
        return
    try:
        secrets.mark_checked(name, record.current_version_id)
    except errors.RekeyError as exc:
        log.warning("could not mark %s's current version checked: %s", name, exc)
