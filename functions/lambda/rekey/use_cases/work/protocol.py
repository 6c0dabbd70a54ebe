"""rekey's rotation protocol: record the intent, create the key, stage it, verify it, make it
current, announce, clear the intent. Each step leaves the secret in a state the next run can
read and settle (rekey.domain.lifecycle.settle_interrupted_rotation) if this one dies."""

from __future__ import annotations

import logging
import time

from ...domain import errors
from ...domain.entities import NewKey
from ...domain.lifecycle import created_under
from ...domain.models import Action, KeyStatus
from ...messages import Event, Severity
from ..announce import unwritable_secret
from .context import Work, key_of
from .delivery import deliver
from .secrets_manager import create_secret, enable_rotation, hand_over
from .values import Stop

log = logging.getLogger(__name__)

# Backoff while a new key propagates through IAM (eventually consistent: seconds).
VERIFY_DELAYS = (1, 2, 4, 8, 15)


def rotate(work: Work, action: Action) -> None:
    """A rotation: handed to Secrets Manager for a sweep's item (it calls back for each step),
    else carried out here, up to staging the key when it is a step of Secrets Manager's."""
    _writable(work, action)
    s = work.settings
    replicas = s.secret_replicas()
    missing = work.record.missing_replicas(replicas) if work.record.state.exists else []
    if missing:
        # A secret from before REKEY_SECRET_REPLICA_REGIONS named these regions: replicated at
        # its user's rotation, before the new key exists. Secrets Manager keeps every replica's
        # versions, stages, tags and resource policy in sync with the primary from then on.
        work.secrets.replicate(work.name, missing)
    function = s.rotation_function_arn(work.item.account_id)
    exists, note = work.record.state.exists, ""
    if function and work.step is None and work.request is None:
        # A sweep's rotation is Secrets Manager's, which records it (LastRotatedDate). A first
        # key's secret is created empty first, for Secrets Manager to rotate into.
        if not exists:
            create_secret(work, replicas)
            exists = True
        handed, note = hand_over(work, function)
        if handed:
            return
    token = work.step.token if work.step is not None else None
    _begin(work, action, exists, replicas, token)
    new = _create_key(work)
    first = work.record.current_version_id is None and token is None
    try:
        version = work.secrets.stage(work.name, new, first=first, version_id=token)
    except errors.RekeyError:
        _discard(work, new.key_id)
        raise
    if token is not None:
        return  # Secrets Manager's testSecret and finishSecret steps do the rest
    verify(work, new)
    if not first:  # a first version was stored current
        work.secrets.promote(work.name, version, work.record.current_version_id)
    replaced = f"to replace {action.key_id}" if action.key_id else "as the user's first key"
    work.notice(
        Event.ROTATED,
        Severity.INFO,
        f"created {new.key_id} {replaced}: {action.reason}; stored as the current version of {work.name}{note}",
        key_id=action.key_id,
        new_key_id=new.key_id,
        secret_name=work.name,
    )
    # Cleared only once announced: a run that finds the intent with the new key current
    # announces the rotation if this one died before it could (see clear_intent).
    work.secrets.clear_intent(work.name)
    enable_rotation(work, function)
    deliver(work, version, new)


def _writable(work: Work, action: Action) -> None:
    """Known from what was read: a secret that cannot take a key stops the rotation before the
    key exists (it could only be deleted again); a broken one is said, and repaired."""
    unwritable = unwritable_secret(work.name, work.record, work.user)
    if unwritable is not None:
        work.notice(Event.SECRET_UNWRITABLE, Severity.ERROR, unwritable, key_id=action.key_id, secret_name=work.name)
        raise Stop("rejected", f"{work.name} is scheduled for deletion")
    if action.repairs:
        message = f"{action.repairs}; rotating now to repair it"
        work.notice(Event.SECRET_BROKEN, Severity.ERROR, message, secret_name=work.name)


def _begin(work: Work, action: Action, exists: bool, replicas: list[dict[str, str]], token: str | None) -> None:
    """Record the intent (and rekey's policy) on the secret, creating it if need be."""
    try:
        work.secrets.begin_rotation(
            work.name,
            exists=exists,
            owner_user_id=work.user.user_id,
            known_key_ids=sorted(work.keys),
            at=work.voice.now,
            policy=work.secret_policy(),
            kms_key_id=work.settings.kms_key_id,
            replaces=action.key_id,
            replicas=replicas,  # a new secret is created with its replicas
            token=token,
        )
    except errors.Conflict:
        # The secret was created since it was read: by another worker rotating this user
        # (or under another user's name, which the next attempt's owner check reports).
        raise Stop("noop", f"{work.name} was created meanwhile; rotation left to whoever created it") from None
    except errors.AccessDenied as denied:
        if not exists:
            raise
        # rekey's writer may not tag the secret or put its policy: someone else's policy
        # (or key policy) holds it. A key created now could go where rekey cannot close.
        work.conflict(f"rekey's writer may not put its resource policy on {work.name} ({denied})")


def _create_key(work: Work) -> NewKey:
    try:
        return work.iam.create_key(work.user.name)
    except errors.LimitExceeded:
        # Someone made a key since the keys were read (another worker, a person): nothing was
        # created here; the next sweep re-reads and re-decides.
        raise Stop("noop", f"{work.user.name} has two keys already; left to whoever made the second") from None


def finish_rotation(work: Work, action: Action) -> None:
    """An interrupted rotation staged its key: verify it, make it current."""
    key_id, version = key_of(action), work.record.pending_version_id
    key = work.secrets.staged_key(work.name, version) if version else None
    if version is None or key is None or key.key_id != key_id:
        raise errors.KeyVerificationFailed(f"{work.name} has no staged version holding {key_id}")
    verify(work, key)
    promote(work, version, key_id, f"finished an interrupted rotation: {key_id} is now current in {work.name}", key)
    enable_rotation(work, work.settings.rotation_function_arn(work.item.account_id))


def promote(work: Work, version: str, key_id: str, message: str | None = None, key: NewKey | None = None) -> None:
    """Make the staged `version` (holding `key_id`, which is `key` if known) current, announce
    it, clear the intent, deliver it."""
    work.secrets.promote(work.name, version, work.record.current_version_id)
    state = work.record.state
    replaced = state.current_key_id or state.previous_key_id
    old = work.keys.get(replaced or "")
    why = f": {old.key_id} was {old.age_days(work.voice.now)} days old" if old else ""
    work.notice(
        Event.ROTATED,
        Severity.INFO,
        message
        or f"created {key_id} to replace {replaced or 'no stored key'}{why}; stored as the current version of "
        f"{work.name} by Secrets Manager's rotation",
        key_id=replaced,
        new_key_id=key_id,
        secret_name=work.name,
    )
    work.secrets.clear_intent(work.name)  # announced: the intent has done its job
    work.intent_cleared = True
    deliver(work, version, key)


def clear_intent(work: Work, action: Action) -> None:
    """The intent outlives its rotation's announcement: a current key created under it means
    the rotation was done, and perhaps never announced (the worker died first)."""
    if work.intent_cleared:
        return
    state = work.record.state
    current = work.keys.get(state.current_key_id or "")
    if state.intent is not None and current is not None and created_under(current, state.intent):
        work.notice(
            Event.ROTATED,
            Severity.INFO,
            f"created {current.key_id} to replace {state.previous_key_id or 'no stored key'}; "
            f"stored as the current version of {work.name}",
            key_id=state.previous_key_id,
            new_key_id=current.key_id,
            secret_name=work.name,
            late=True,
        )
    work.secrets.clear_intent(work.name)


def verify(work: Work, key: NewKey) -> None:
    """Sign sts:GetCallerIdentity with the new key; IAM needs seconds to accept it."""
    sleep = work.ports.sleep or time.sleep
    last: Exception | None = None
    for delay in (0, *VERIFY_DELAYS):
        sleep(delay)
        try:
            arn = work.ports.caller_of(key)
        except errors.RekeyError as exc:
            last = exc
            continue
        if arn == work.user.arn:
            return
        raise errors.KeyVerificationFailed(f"{key.key_id} signs as {arn}, not {work.user.arn}")
    raise errors.KeyVerificationFailed(f"{key.key_id} was not accepted by STS: {last}")


def _discard(work: Work, key_id: str) -> None:
    """Remove a key whose secret could not be stored: nobody can ever use it."""
    try:
        work.iam.set_status(work.user.name, key_id, KeyStatus.INACTIVE)
        work.iam.delete_key(work.user.name, key_id)
    except errors.RekeyError as exc:  # the intent lets the next attempt remove it
        log.error("could not remove unstored key %s of %s: %s", key_id, work.user.name, exc)
