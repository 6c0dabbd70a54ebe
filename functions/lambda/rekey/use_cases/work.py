"""Carry out one work item, or an operator's request, if it still holds: the worker re-checks the
account, the tag and the user's privileges, re-reads keys and secret, and re-decides."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..domain import errors
from ..domain.entities import IamUser, NewKey
from ..domain.lifecycle import created_under, current_problem, decide, describe_use, rotation_in_flight
from ..domain.manual import Request, decide_request
from ..domain.models import ANNOUNCE_ONLY, AccessKey, Action, ActionKind, KeyStatus, Policy
from ..domain.naming import secret_name
from ..domain.policy import OptIn, opt_in
from ..domain.scope import Scope
from ..domain.secret_policy import is_rekeys
from ..messages import Event, Notification, Severity, WorkItem
from ..ports import Ports
from .announce import foreign_secret, notice, publish, unwritable_secret
from .scan import assess_user, read_keys
from .scope import account_refusal

log = logging.getLogger(__name__)

# Backoff while a new key propagates through IAM (eventually consistent: seconds).
VERIFY_DELAYS = (1, 2, 4, 8, 15)


@dataclass
class WorkOutcome:
    item: WorkItem
    status: str  # done | noop | rejected
    detail: str
    performed: list[Action] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


@dataclass(frozen=True)
class RotationStep:
    """A step of Secrets Manager's rotation of the user's secret (rekey.use_cases.rotation):
    `step` is createSecret, setSecret, testSecret or finishSecret; `token` the version it
    rotates to (its ClientRequestToken). Which user, and whether to rotate, rekey decides."""

    step: str
    token: str


@dataclass(frozen=True)
class OperatorRequest:
    """An operator's request (`rekey rotate-now` through the hub's operator endpoint): acts
    regardless of age and exemption, within the same invariants (rekey.domain.manual). Never
    read from a queue: the hub builds it for a caller it authenticated. `requested_by` is the
    caller's ARN as AWS authenticated it (or the classic event's fixed label), never text a
    sender chose. `classic`: the classic manual event, which is no operator: exemptions and
    policy tags hold, and the floors bound it."""

    requested_by: str
    revoke_old: bool = False
    classic: bool = False


def run_work_item(
    ports: Ports,
    item: WorkItem,
    *,
    request: OperatorRequest | None = None,
    announced: list[Notification] | None = None,
    redelivered: bool = False,
    step: RotationStep | None = None,
) -> WorkOutcome:
    """Carry out one work item if it still holds: re-check the account, the tag and the user's
    privileges, re-read keys and secret, re-decide, then perform the fresh plan up to and
    including the item's action (what must come first, such as making room, is done first).
    Stale or duplicate items are no-ops. With `request`, the item is an operator's request.
    Raises a domain error when the item should be retried. `announced` receives what was
    announced, also when it raises (what was done before the failure); each announcement is
    published as soon as its action is done. `redelivered`: an earlier attempt at this item
    stopped (failed, or died) — if it did the item's action and not announce it, this one does,
    marked late. With `step`, the item is a step of Secrets Manager's rotation of the user's
    secret: `rejected` then means the step fails (Secrets Manager records a failed rotation)."""
    worker = _Worker(ports, item, request, redelivered, step)
    if announced is not None:
        worker.notifications = announced
    try:
        return worker.run()
    except _Deferred as deferred:  # another worker got there first: not a failure
        return worker.outcome("noop", str(deferred))
    except _HumanNeeded as stopped:  # announced; retrying cannot help until a human acts
        return worker.outcome("rejected", str(stopped))


def failure_notice(
    item: WorkItem, error: errors.RekeyError, attempt: str, last: str | None, at: datetime
) -> Notification:
    """What a failed attempt at `item` announces: `failed` while it will be retried, or on the
    queue's last attempt (`last`: `n of n`) `dead-lettered`, as SQS moves it to the DLQ next."""
    if last:
        event, message = (
            Event.DEAD_LETTERED,
            f"{item.action.value} failed on its last attempt ({last}); moved to the dead-letter queue, "
            f"needs a human: {error.code}: {error}",
        )
    else:
        event, message = (
            Event.FAILED,
            f"{item.action.value} failed (attempt {attempt}), will be retried: {error.code}: {error}",
        )
    return notice(
        event,
        Severity.ERROR,
        item.account_id,
        message,
        at,
        user_name=item.user_name,
        key_id=item.key_id,
        sweep_id=item.sweep_id,
    )


class _Deferred(Exception):
    """Another worker is acting on the same user (it created the secret or a key since this
    one read them): this one stops quietly; the next sweep re-reads and re-decides."""


class _HumanNeeded(Exception):
    """The user's secret cannot take a new key (rekey.use_cases.announce.unwritable_secret), or
    is not provably rekey's (a conflict): announced, and the item stops with nothing changed."""


class _Worker:
    """One work item's run. Each check returns the outcome to stop with, or None to go on."""

    def __init__(
        self,
        ports: Ports,
        item: WorkItem,
        request: OperatorRequest | None = None,
        redelivered: bool = False,
        step: RotationStep | None = None,
    ) -> None:
        self.ports = ports
        self.settings = ports.settings
        self.item = item
        self.request = request
        self.redelivered = redelivered
        self.step = step
        # Secrets Manager's later steps act only on the key createSecret created under every
        # check: they read the user (its ARN, its tag), the secret and the keys, not the user's
        # privileges nor when its keys were last used.
        self.later_step = step is not None and step.step != "createSecret"
        self.intent_cleared = False
        # Secrets Manager's rotation of the secret is configured as the user's policy says (or
        # handed a rotation, which configures it): see _enable_rotation.
        self.rotation_configured = False
        self.now = ports.now()
        self.notifications: list[Notification] = []

    def run(self) -> WorkOutcome:
        return self._admit() or self._read() or self._act()

    def notice(
        self, event: Event, severity: Severity, message: str, user: IamUser | None, late: bool = False, **fields: Any
    ) -> None:
        """Announce at once: an action's announcement follows it before anything else is done."""
        if self.request is not None:
            fields["requested_by"] = self.request.requested_by
        if late:
            fields["late"] = True
            message += " (announced late: the attempt that did it stopped before announcing it)"
        n = notice(
            event,
            severity,
            self.item.account_id,
            message,
            self.now,
            user=user,
            user_name=self.item.user_name,
            sweep_id=self.item.sweep_id,
            **fields,
        )
        self.notifications.append(n)
        # An announcement that cannot be made fails the item: SQS redelivers it, and the next
        # attempt announces what this one did (a rotation's intent is cleared only after).
        publish(self.ports, [n], strict=True)

    def outcome(self, status: str, detail: str, performed: list[Action] | None = None) -> WorkOutcome:
        item = self.item
        log.info("work item %s %s/%s %s: %s", item.action.value, item.account_id, item.user_name, status, detail)
        return WorkOutcome(item, status, detail, performed or [], self.notifications)

    # -- the checks, in order

    def _admit(self) -> WorkOutcome | None:
        """The account, the user, its tag and its standing: who may be acted on, re-checked."""
        item = self.item
        outside = account_refusal(self.ports, item.account_id)
        if outside is not None:
            self.notice(Event.REJECTED, Severity.ERROR, f"work item refused: {outside}", None)
            return self.outcome("rejected", outside)
        member = self.ports.account(item.account_id, write=True)
        self.iam, self.secrets = member.iam, member.secrets
        try:
            user = self.iam.get_user(item.user_name, with_grants=not self.later_step)
        except errors.NotFound:
            self.notice(Event.REJECTED, Severity.WARNING, "work item for a user that does not exist; ignored", None)
            return self.outcome("rejected", "no such user")
        state, why = opt_in(user.tags, self.settings.tag_key)
        if state is not OptIn.IN:
            self.notice(Event.REJECTED, Severity.WARNING, f"work item for a user not opted in ({why}); ignored", user)
            return self.outcome("rejected", why)
        if self.later_step:
            self.policy, self.user = self.settings.policy, user
            return None
        assessment = assess_user(self.ports, user, item.account_id, self.now)
        if assessment.scope is Scope.REFUSED:  # whoever asked, an operator included
            self.notice(Event.REFUSED, Severity.ERROR, f"refused, never touched: {assessment.why}", user)
            return self.outcome("rejected", assessment.why)
        # An operator's request acts regardless of an exemption or invalid policy tags: it
        # uses no ages, and the opt-in tag (all the spoke role checks) is there. The classic
        # event is no operator.
        self.policy: Policy = assessment.policy or self.settings.policy
        operator = self.request is not None and not self.request.classic
        if not operator and assessment.scope is Scope.MISCONFIGURED:
            self.notice(Event.MISCONFIGURED, Severity.WARNING, f"left untouched: {assessment.why}", user)
            return self.outcome("rejected", assessment.why)
        if not operator and assessment.scope is Scope.EXEMPT:
            if self.request is not None:  # the classic event's sender is told
                refused = f"the classic manual event refused: {assessment.why}"
                self.notice(Event.REJECTED, Severity.WARNING, refused, user)
                return self.outcome("rejected", assessment.why)
            return self.outcome("noop", assessment.why)
        self.user = user
        return None

    def _read(self) -> WorkOutcome | None:
        """The user's secret and keys, as they are now; a secret rekey may not use stops here."""
        s, user = self.settings, self.user
        self.name = secret_name(s.secret_name, user.name, self.item.account_id)
        record = self.secrets.read(self.name)
        if record.foreign:
            self.notice(Event.CONFLICT, Severity.ERROR, foreign_secret(self.name, user), user, secret_name=self.name)
            return self.outcome("rejected", "a secret rekey did not create holds the user's secret name")
        if record.owner_user_id != user.user_id and record.state.exists:
            self.notice(
                Event.BLOCKED,
                Severity.ERROR,
                f"secret {self.name} belongs to another user; set a distinct secret name",
                user,
                secret_name=self.name,
            )
            return self.outcome("rejected", "secret name collision")
        # A pause longer than rekey ever sets was written by hand: ignored (the scan announces it).
        self.record = replace(record, state=record.state.bounded(self.now.date(), s.max_pause_days)[0])
        # An operator's request reads when the keys were last used whatever the plan.
        if self.later_step:
            self.listed = self.iam.access_keys(user.name, with_last_use=False)
        else:
            self.listed = read_keys(self.iam, user.name, self.record.state, last_use=self.request is not None)
        self.keys = {k.key_id: k for k in self.listed}
        self._mark_checked()
        intent = self.record.state.intent
        own = self.step is not None and intent is not None and intent.token == self.step.token
        if rotation_in_flight(self.record.state, self.now) and not own:
            # Its worker may be about to store the key it created: acting now could remove
            # that key as an orphan. The next run settles it if the worker died.
            return self.outcome("noop", "a rotation of this user began minutes ago and may still be running")
        return None

    def _mark_checked(self) -> None:
        """A current version someone else wrote, found to hold a usable key of the user: the scan
        stops having it checked. Failing to record that costs only another check tomorrow."""
        record = self.record
        if record.foreign_current_checked is not False or record.current_version_id is None:
            return
        if record.state.current_key_id is None or current_problem(self.listed, record.state):
            return
        try:
            self.secrets.mark_checked(self.name, record.current_version_id)
        except errors.RekeyError as exc:
            log.warning("could not mark %s's current version checked: %s", self.name, exc)

    def _act(self) -> WorkOutcome:
        """Re-decide, and carry out the fresh plan up to and including the item's action."""
        if self.request is not None:
            return self._act_on_request(self.request, self.listed)
        if self.step is not None:
            return self._act_on_step(self.step)
        item, user = self.item, self.user
        plan = decide(self.listed, self.record.state, self.policy, self.now)
        if self.record.state.current_unusable:  # read from the value: the scan could not see it
            for broken in (a for a in plan if a.kind is ActionKind.SECRET_BROKEN):
                self.notice(Event.SECRET_BROKEN, Severity.ERROR, broken.reason, user, secret_name=self.name)
        position = next((i for i, a in enumerate(plan) if a.matches(item.action.kind, item.key_id)), None)
        if position is None and item.action.kind is ActionKind.ROTATE and plan and all(a.kind in SETTLE for a in plan):
            # The item's rotation was interrupted and needs only settling (its announcement, if
            # it was never made, comes with the settling: see _clear_intent).
            position = len(plan) - 1
        if position is None:
            foreign = item.key_id and item.key_id not in self.keys
            if foreign and self.iam.key_owner(item.key_id) not in (None, user.name):  # type: ignore[arg-type]
                # Not stale (the user's key, since deleted) but forged or misrouted: say so.
                self.notice(
                    Event.REJECTED,
                    Severity.WARNING,
                    f"work item names {item.key_id}, a key of another user; ignored",
                    user,
                    key_id=item.key_id,
                )
                return self.outcome("rejected", "the key belongs to another user")
            if self.redelivered:
                self._announce_if_done()
            return self.outcome("noop", "no longer needed (already done, or the keys changed)")
        todo = [a for a in plan[: position + 1] if a.kind not in ANNOUNCE_ONLY]
        for action in todo:
            self._perform(action)
        if self.record.current_version_id is not None:  # e.g. a secret from before rotation was enabled
            self._enable_rotation(self.settings.rotation_function_arn(item.account_id))
        return self.outcome("done", "; ".join(a.kind.value for a in todo), todo)

    def _act_on_request(self, operator: OperatorRequest, keys: list[AccessKey]) -> WorkOutcome:
        """An operator's request: decided by decide_request(), within the same invariants."""
        item = self.item
        who = f" by {operator.requested_by}"
        request = Request(
            item.action.kind,
            item.key_id,
            revoke_old=operator.revoke_old,
            create_first_key=self.policy.create_first_key,
            reason=f"requested{who}" + (f": {item.reason}" if item.reason else ""),
            floor=self.settings.min_overlap_days if operator.classic else None,
        )
        plan = decide_request(request, keys, self.record.state, self.now)
        for action in plan.actions:
            self._perform(action)
            if operator.revoke_old and action.kind is ActionKind.DEACTIVATE and action.key_id:
                # Revoked as leaked: a rollback must never bring it back.
                self.secrets.mark_revoked(self.name, action.key_id, self.record.state.revoked_key_ids)
        if plan.refused:
            self.notice(
                Event.REJECTED,
                Severity.WARNING,
                f"{item.action.value} requested{who} refused: {plan.refused}",
                self.user,
                key_id=item.key_id,
                secret_name=self.name,
            )
            return self.outcome("rejected", plan.refused, plan.actions)
        if plan.skipped:
            return self.outcome("noop", plan.skipped, plan.actions)
        return self.outcome("done", "; ".join(a.kind.value for a in plan.actions), plan.actions)

    def _act_on_step(self, step: RotationStep) -> WorkOutcome:
        """A step of Secrets Manager's rotation: rekey's protocol, cut where Secrets Manager cuts
        it. createSecret records the intent, creates the key and stages it in the step's version
        (if the user's policy says a rotation is due now, as for a sweep's item); setSecret has
        nothing to do (IAM holds the key from its creation); testSecret signs as the user with
        the staged key; finishSecret makes it current and announces the rotation."""
        record, token = self.record, step.token
        if record.current_version_id == token:
            if step.step == "finishSecret" and record.state.intent is not None:
                self._clear_intent(Action(ActionKind.CLEAR_INTENT, None, "rotation finished"))
            return self.outcome("noop", f"{token} is current already: the rotation is done")
        staged = record.pending_version_id == token and record.state.pending_key_id is not None
        if step.step == "createSecret":
            return self._create_step(token) if not staged else self.outcome("noop", f"a key is staged in {token}")
        if step.step == "finishSecret":  # testSecret signed with the staged key already
            key_id = record.state.pending_key_id if staged else None
            if key_id is None or key_id not in self.keys:
                raise errors.KeyVerificationFailed(f"version {token} of {self.name} holds no key of {self.user.name}")
            self._promote(token, key_id)
            return self.outcome("done", f"{key_id} is now current in {self.name}")
        ours = record.state.intent is not None and record.state.intent.token == token
        key = self.secrets.staged_key(self.name, token) if record.pending_version_id == token else None
        if key is None and not ours:
            # Rotation being enabled (RotateImmediately false): Secrets Manager tests the function.
            return self.outcome("noop", f"rekey may rotate {self.user.name}'s keys (a test of the configuration)")
        if key is None or key.key_id not in self.keys:
            raise errors.KeyVerificationFailed(f"version {token} of {self.name} holds no key of {self.user.name}")
        self._verify(key)
        return self.outcome("done", f"{key.key_id} signs as {self.user.name}")

    def _create_step(self, token: str) -> WorkOutcome:
        """createSecret: what a sweep's rotation item would do now, the key staged in `token`."""
        plan = decide(self.listed, self.record.state, self.policy, self.now)
        position = next((i for i, a in enumerate(plan) if a.kind is ActionKind.ROTATE), None)
        if position is None:
            why = _not_due(self.listed, self.policy, plan)
            if self.record.pending_version_id == token:
                self.secrets.drop_pending(self.name, token)  # else Secrets Manager refuses the next rotation
            message = f"Secrets Manager's rotation of {self.name} refused: {why}; `rekey rotate-now` rotates it now"
            self.notice(Event.REJECTED, Severity.WARNING, message, self.user, secret_name=self.name)
            return self.outcome("rejected", why)
        todo = [a for a in plan[: position + 1] if a.kind not in ANNOUNCE_ONLY]
        for action in todo:
            self._perform(action)
        return self.outcome("done", f"{'; '.join(a.kind.value for a in todo)} (staged in {token})", todo)

    # -- the actions (STEPS below says which method carries out which kind)

    def _perform(self, action: Action) -> None:
        STEPS[action.kind](self, action)

    def _rotate(self, action: Action) -> None:
        """The rotation protocol: intent, create, stage, verify, promote, clear the intent."""
        unwritable = unwritable_secret(self.name, self.record, self.user)
        if unwritable is not None:
            # Known from what was read: a key created now could not be stored, only deleted again.
            fields = {"key_id": action.key_id, "secret_name": self.name}
            self.notice(Event.SECRET_UNWRITABLE, Severity.ERROR, unwritable, self.user, **fields)
            raise _HumanNeeded(f"{self.name} is scheduled for deletion")
        if action.repairs:
            message = f"{action.repairs}; rotating now to repair it"
            self.notice(Event.SECRET_BROKEN, Severity.ERROR, message, self.user, secret_name=self.name)
        s = self.settings
        replicas = s.secret_replicas()
        missing = self.record.missing_replicas(replicas) if self.record.state.exists else []
        if missing:
            # A secret from before REKEY_SECRET_REPLICA_REGIONS named these regions: replicated at
            # its user's rotation, before the new key exists. Secrets Manager keeps every replica's
            # versions, stages, tags and resource policy in sync with the primary from then on.
            self.secrets.replicate(self.name, missing)
        function = s.rotation_function_arn(self.item.account_id)
        exists, note = self.record.state.exists, ""
        if function and self.step is None and self.request is None:
            # A sweep's rotation is Secrets Manager's, which records it (LastRotatedDate): it
            # invokes the member's relay, and so the hub, for each step (_act_on_step). A first
            # key's secret is created empty first, for Secrets Manager to rotate into.
            if not exists:
                self._create_secret(replicas)
                exists = True
            handed, note = self._hand_to_secrets_manager(function)
            if handed:
                return
        token = self.step.token if self.step is not None else None
        try:
            self.secrets.begin_rotation(
                self.name,
                exists=exists,
                owner_user_id=self.user.user_id,
                known_key_ids=sorted(self.keys),
                at=self.now,
                policy=self._policy(),
                kms_key_id=s.kms_key_id,
                replaces=action.key_id,
                replicas=replicas,  # a new secret is created with its replicas
                token=token,
            )
        except errors.Conflict:
            # The secret was created since it was read: by another worker rotating this user
            # (or under another user's name, which the next attempt's owner check reports).
            raise _Deferred(f"{self.name} was created meanwhile; rotation left to whoever created it") from None
        except errors.AccessDenied as denied:
            if not exists:
                raise
            # rekey's writer may not tag the secret or put its policy: someone else's policy
            # (or key policy) holds it. A key created now could go where rekey cannot close.
            self._conflict(f"rekey's writer may not put its resource policy on {self.name} ({denied})")
        try:
            new = self.iam.create_key(self.user.name)
        except errors.LimitExceeded:
            # Someone made a key since the keys were read (another worker, a person): nothing
            # was created here; the next sweep re-reads and re-decides.
            raise _Deferred(f"{self.user.name} has two keys already; left to whoever made the second") from None
        first = self.record.current_version_id is None and token is None
        try:
            version = self.secrets.stage(self.name, new, first=first, version_id=token)
        except errors.RekeyError:
            self._discard(new.key_id)
            raise
        if token is not None:
            return  # Secrets Manager's testSecret and finishSecret steps do the rest
        self._verify(new)
        if not first:  # a first version was stored current
            self.secrets.promote(self.name, version, self.record.current_version_id)
        replaced = f"to replace {action.key_id}" if action.key_id else "as the user's first key"
        self.notice(
            Event.ROTATED,
            Severity.INFO,
            f"created {new.key_id} {replaced}: {action.reason}; stored as the current version of {self.name}{note}",
            self.user,
            key_id=action.key_id,
            new_key_id=new.key_id,
            secret_name=self.name,
        )
        # Cleared only once announced: a run that finds the intent with the new key current
        # announces the rotation if this one died before it could (see _clear_intent).
        self.secrets.clear_intent(self.name)
        self._enable_rotation(function)

    def _create_secret(self, replicas: list[dict[str, str]]) -> None:
        """The user's secret, empty, with rekey's policy: for Secrets Manager to rotate into."""
        try:
            self.secrets.create(
                self.name,
                owner_user_id=self.user.user_id,
                policy=self._policy(),
                kms_key_id=self.settings.kms_key_id,
                replicas=replicas,
            )
        except errors.Conflict:
            raise _Deferred(f"{self.name} was created meanwhile; rotation left to whoever created it") from None

    def _hand_to_secrets_manager(self, function: str) -> tuple[bool, str]:
        """Secrets Manager's rotation (RotateSecret) of the user's secret. Returns whether it
        was handed over and, if not (announced), a note for the announcement of the rotation
        rekey then carries out itself."""
        record = self.record
        if record.pending_version_id is not None and record.state.pending_key_id is None:
            # An empty version a rotation that failed left AWSPENDING on: Secrets Manager would
            # refuse to start another one.
            self.secrets.drop_pending(self.name, record.pending_version_id)
        try:
            self.secrets.rotate(self.name, function, self._rotation_days(), immediately=True)
        except (errors.NotFound, errors.AccessDenied, errors.InvalidRequest) as exc:
            self.rotation_configured = True  # nor could it be enabled now: said once
            self._unrecorded(
                f"Secrets Manager cannot rotate {self.name} with {function} ({exc}); rekey stores the key itself"
            )
            return False, " (by rekey itself: Secrets Manager's rotation is unavailable)"
        self.rotation_configured = True
        return True, ""

    def _unrecorded(self, why: str) -> None:
        """Announce that Secrets Manager does not run (so does not record) the user's rotation."""
        remedy = (
            "deploy the StackSet's rotation relay in the account (HubRotationUrl) and let rekey-spoke call "
            "secretsmanager:RotateSecret and invoke the relay (spoke-role.yaml)"
        )
        message = f"{why}; Security Hub's SecretsManager.1 and .4 fail on it until {remedy}"
        self.notice(Event.SECRETS_MANAGER_ROTATION_FAILED, Severity.WARNING, message, self.user, secret_name=self.name)

    def _enable_rotation(self, function: str | None) -> None:
        """After rekey stored a key itself, or acted on a secret from before: Secrets Manager's
        rotation enabled on the secret, on the user's schedule (it tests the function once:
        testSecret); 0 calls when it is so already. A failure is announced, and retried at the
        user's next action."""
        record, days = self.record, self._rotation_days()
        if function is None or self.rotation_configured:
            return
        self.rotation_configured = True
        if record.rotation_function == function and record.rotation_days == days:
            return
        try:
            self.secrets.rotate(self.name, function, days, immediately=False)
        except errors.RekeyError as exc:  # the keys are rotated all the same; retried at the next action
            self._unrecorded(f"Secrets Manager's rotation of {self.name} could not be enabled with {function} ({exc})")

    def _rotation_days(self) -> int:
        """Secrets Manager's schedule: the user's policy's (its API takes 1 to 1000 days)."""
        return max(1, min(1000, self.policy.rotate_after_days))

    def _finish_rotation(self, action: Action) -> None:
        """An interrupted rotation staged its key: verify it, make it current."""
        key_id, version = _key(action), self.record.pending_version_id
        key = self.secrets.staged_key(self.name, version) if version else None
        if version is None or key is None or key.key_id != key_id:
            raise errors.KeyVerificationFailed(f"{self.name} has no staged version holding {key_id}")
        self._verify(key)
        self._promote(version, key_id, f"finished an interrupted rotation: {key_id} is now current in {self.name}")
        self._enable_rotation(self.settings.rotation_function_arn(self.item.account_id))

    def _promote(self, version: str, key_id: str, message: str | None = None) -> None:
        """Make the staged `version` (holding `key_id`) current, announce it, clear the intent."""
        self.secrets.promote(self.name, version, self.record.current_version_id)
        state = self.record.state
        replaced = state.current_key_id or state.previous_key_id
        old = self.keys.get(replaced or "")
        why = f": {old.key_id} was {old.age_days(self.now)} days old" if old else ""
        self.notice(
            Event.ROTATED,
            Severity.INFO,
            message
            or f"created {key_id} to replace {replaced or 'no stored key'}{why}; stored as the current version of "
            f"{self.name} by Secrets Manager's rotation",
            self.user,
            key_id=replaced,
            new_key_id=key_id,
            secret_name=self.name,
        )
        self.secrets.clear_intent(self.name)  # announced: the intent has done its job
        self.intent_cleared = True

    def _clear_intent(self, action: Action) -> None:
        """The intent outlives its rotation's announcement: a current key created under it
        means the rotation was done, and perhaps never announced (the worker died first)."""
        if self.intent_cleared:
            return
        state = self.record.state
        current = self.keys.get(state.current_key_id or "")
        if state.intent is not None and current is not None and created_under(current, state.intent):
            self.notice(
                Event.ROTATED,
                Severity.INFO,
                f"created {current.key_id} to replace {state.previous_key_id or 'no stored key'}; "
                f"stored as the current version of {self.name}",
                self.user,
                key_id=state.previous_key_id,
                new_key_id=current.key_id,
                secret_name=self.name,
                late=True,
            )
        self.secrets.clear_intent(self.name)

    def _announce_if_done(self) -> None:
        """A redelivered item whose action is done: its first attempt may have died between
        the action and its announcement, so it is announced (late; the same notification id as
        the first announcement, if there was one, so subscribers see it once)."""
        kind, key_id = self.item.action.kind, self.item.key_id
        if not key_id:
            return
        key = self.keys.get(key_id)
        if kind is ActionKind.DEACTIVATE and key is not None and not key.active:
            message = f"deactivated {key_id}: {self.item.reason or 'due'}"
            self.notice(
                Event.DEACTIVATED, Severity.INFO, message, self.user, key_id=key_id, secret_name=self.name, late=True
            )
        elif (
            kind in (ActionKind.DELETE, ActionKind.DELETE_ORPHAN) and key is None and self.iam.key_owner(key_id) is None
        ):
            message = f"deleted {key_id}: {self.item.reason or 'due'}"
            self.notice(
                Event.DELETED, Severity.INFO, message, self.user, key_id=key_id, secret_name=self.name, late=True
            )

    def _warn_in_use(self, action: Action) -> None:
        self.notice(Event.IN_USE, Severity.WARNING, action.reason, self.user, **self._use_fields(action))
        self._remember_warning(_key(action))

    def _warn_not_adopted(self, action: Action) -> None:
        fields = {"key_id": _key(action), "secret_name": self.name}
        self.notice(Event.NOT_ADOPTED, Severity.WARNING, action.reason, self.user, **fields)
        self._remember_warning(_key(action))

    def _remember_warning(self, key_id: str) -> None:
        if self.record.state.exists:  # at most once a key a day: decide() reads this back
            self.secrets.mark_in_use_warned(self.name, key_id, self.now.date())

    def _deactivate(self, action: Action) -> None:
        key_id = _key(action)
        if action.in_use is not None:
            self.notice(
                Event.IN_USE,
                Severity.WARNING,
                f"{key_id} was used after its replacement was created ({describe_use(action.in_use)}); "
                "deactivating it now",
                self.user,
                **self._use_fields(action),
            )
        self.iam.set_status(self.user.name, key_id, KeyStatus.INACTIVE)
        self.notice(
            Event.DEACTIVATED,
            Severity.INFO,
            f"deactivated {key_id}: {action.reason}",
            self.user,
            key_id=key_id,
            secret_name=self.name,
        )

    def _delete(self, action: Action) -> None:
        """Delete an inactive key, or an orphan (retired first: never delete an active key)."""
        key_id = _key(action)
        orphan = action.kind is ActionKind.DELETE_ORPHAN
        if orphan and not is_rekeys(self.secrets.resource_policy(self.name), self._policy()):
            # The intent that makes the key look orphaned is a tag. rekey creates a key only once
            # its policy is on the secret, after which nobody else can tag it: without that
            # policy, the intent is anyone's word, and the key may be a person's.
            self._conflict(
                f"{self.name} records a rotation that would make {key_id} its orphan, but the secret does not carry "
                "rekey's resource policy, so rekey cannot have written that record; the key is left alone"
            )
        try:
            if orphan:
                self.iam.set_status(self.user.name, key_id, KeyStatus.INACTIVE)
            self.iam.delete_key(self.user.name, key_id)
        except errors.NotFound:
            # Gone already: a retry whose first answer was lost, or another worker.
            log.info("%s of %s was already deleted", key_id, self.user.name)
        self.keys.pop(key_id, None)
        self.notice(
            Event.DELETED,
            Severity.INFO,
            f"deleted {key_id}: {action.reason}",
            self.user,
            key_id=key_id,
            secret_name=self.name,
        )

    def _policy(self) -> dict[str, Any]:
        """The resource policy rekey puts on the user's secret."""
        return self.settings.secret_policy(self.user.arn, self.item.account_id)

    def _conflict(self, why: str) -> None:
        """Stop: the secret is not provably rekey's. Announced; a human decides."""
        message = f"{why}. Move or delete the secret (rekey then creates its own), or repair it as break-glass"
        self.notice(Event.CONFLICT, Severity.ERROR, message, self.user, secret_name=self.name)
        raise _HumanNeeded(why)

    def _use_fields(self, action: Action) -> dict[str, Any]:
        use = action.in_use
        assert use is not None
        return {
            "key_id": action.key_id,
            "secret_name": self.name,
            "last_used_at": use.at,
            "last_used_service": use.service,
            "last_used_region": use.region,
        }

    def _discard(self, key_id: str) -> None:
        """Remove a key whose secret could not be stored: nobody can ever use it."""
        try:
            self.iam.set_status(self.user.name, key_id, KeyStatus.INACTIVE)
            self.iam.delete_key(self.user.name, key_id)
        except errors.RekeyError as exc:  # the intent lets the next attempt remove it
            log.error("could not remove unstored key %s of %s: %s", key_id, self.user.name, exc)

    def _verify(self, key: NewKey) -> None:
        """Sign sts:GetCallerIdentity with the new key; IAM needs seconds to accept it."""
        sleep = self.ports.sleep or time.sleep
        last: Exception | None = None
        for delay in (0, *VERIFY_DELAYS):
            sleep(delay)
            try:
                arn = self.ports.caller_of(key)
            except errors.RekeyError as exc:
                last = exc
                continue
            if arn == self.user.arn:
                return
            raise errors.KeyVerificationFailed(f"{key.key_id} signs as {arn}, not {self.user.arn}")
        raise errors.KeyVerificationFailed(f"{key.key_id} was not accepted by STS: {last}")


def _not_due(keys: list[AccessKey], policy: Policy, plan: list[Action]) -> str:
    """Why the user's policy does not rotate now, in one line."""
    if plan:
        return "the user's keys need " + ", ".join(a.kind.value for a in plan) + " first, not a rotation"
    newest = max((k for k in keys if k.active), key=lambda k: k.created, default=None)
    if newest is None:
        return "the user has no active key, and its policy creates no first key"
    due = (newest.created + timedelta(days=policy.rotate_after_days)).date()
    return f"{newest.key_id} is not due until {due} (rotation every {policy.rotate_after_days} days)"


def _key(action: Action) -> str:
    """The key an action is about; decide() names one for every kind but a rotation."""
    assert action.key_id, action
    return action.key_id


# What settles an interrupted rotation (rekey.domain.lifecycle.settle_interrupted_rotation).
SETTLE = (ActionKind.FINISH_ROTATION, ActionKind.DELETE_ORPHAN, ActionKind.CLEAR_INTENT)

# Which method carries out which kind of action (decide() plans no other kinds for the worker).
STEPS: dict[ActionKind, Callable[[_Worker, Action], None]] = {
    ActionKind.ROTATE: _Worker._rotate,
    ActionKind.FINISH_ROTATION: _Worker._finish_rotation,
    ActionKind.CLEAR_INTENT: _Worker._clear_intent,
    ActionKind.WARN_IN_USE: _Worker._warn_in_use,
    ActionKind.WARN_NOT_ADOPTED: _Worker._warn_not_adopted,
    ActionKind.DEACTIVATE: _Worker._deactivate,
    ActionKind.DELETE: _Worker._delete,
    ActionKind.DELETE_ORPHAN: _Worker._delete,
}
