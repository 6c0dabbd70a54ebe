"""Secrets Manager's own rotation of the user's secret: a sweep's rotation is handed to it
(RotateSecret), which records it and invokes the member's relay, and so the hub, for each step
(rekey.use_cases.work.steps); a secret rekey wrote itself gets rotation enabled on the user's
schedule. What Secrets Manager cannot do is announced, and rekey carries on itself."""

from __future__ import annotations

from ...domain import errors
from ...messages import Event, Severity
from .context import Work
from .values import Stop

REMEDY = (
    "deploy the StackSet's rotation relay in the account (HubRotationUrl) and let rekey-spoke call "
    "secretsmanager:RotateSecret and invoke the relay (spoke-role.yaml)"
)


def create_secret(work: Work, replicas: list[dict[str, str]]) -> None:
    """The user's secret, empty, with rekey's policy: for Secrets Manager to rotate into."""
    try:
        work.secrets.create(
            work.name,
            owner_user_id=work.user.user_id,
            policy=work.secret_policy(),
            kms_key_id=work.settings.kms_key_id,
            replicas=replicas,
        )
    except errors.Conflict:
        raise Stop("noop", f"{work.name} was created meanwhile; rotation left to whoever created it") from None


def hand_over(work: Work, function: str) -> tuple[bool, str]:
    """Secrets Manager's rotation (RotateSecret) of the user's secret. Returns whether it was
    handed over and, if not (announced), a note for the announcement of the rotation rekey then
    carries out itself."""
    record = work.record
    if record.pending_version_id is not None and record.state.pending_key_id is None:
        # An empty version a rotation that failed left AWSPENDING on: Secrets Manager would
        # refuse to start another one.
        work.secrets.drop_pending(work.name, record.pending_version_id)
    work.rotation_configured = True  # handed a rotation, or not to be enabled now either: said once
    try:
        work.secrets.rotate(work.name, function, rotation_days(work), immediately=True)
    except (errors.NotFound, errors.AccessDenied, errors.InvalidRequest) as exc:
        unrecorded(
            work, f"Secrets Manager cannot rotate {work.name} with {function} ({exc}); rekey stores the key itself"
        )
        return False, " (by rekey itself: Secrets Manager's rotation is unavailable)"
    return True, ""


def enable_rotation(work: Work, function: str | None) -> None:
    """After rekey stored a key itself, or acted on a secret from before: Secrets Manager's
    rotation enabled on the secret, on the user's schedule (it tests the function once:
    testSecret); 0 calls when it is so already. A failure is announced, and retried at the
    user's next action."""
    record, days = work.record, rotation_days(work)
    if function is None or work.rotation_configured:
        return
    work.rotation_configured = True
    if record.rotation_function == function and record.rotation_days == days:
        return
    try:
        work.secrets.rotate(work.name, function, days, immediately=False)
    except errors.RekeyError as exc:  # the keys are rotated all the same; retried at the next action
        unrecorded(work, f"Secrets Manager's rotation of {work.name} could not be enabled with {function} ({exc})")


def unrecorded(work: Work, why: str) -> None:
    """Announce that Secrets Manager does not run (so does not record) the user's rotation."""
    message = f"{why}; Security Hub's SecretsManager.1 and .4 fail on it until {REMEDY}"
    work.notice(Event.SECRETS_MANAGER_ROTATION_FAILED, Severity.WARNING, message, secret_name=work.name)


def rotation_days(work: Work) -> int:
    """Secrets Manager's schedule: the user's policy's (its API takes 1 to 1000 days)."""
    return max(1, min(1000, work.policy.rotate_after_days))
