"""Secrets Manager's rotation of a user's secret, one step at a time. Secrets Manager invokes the
rotation function in the secret's own account: rekey's relay there (spoke_templates/
spoke-role.yaml), which hands each step, signed with its role, to the hub's rotation endpoint.
The hub carries it out as rekey's own protocol (rekey.use_cases.work, RotationStep): the step
names a secret and a version, never a user's fate — which user, whether a rotation is due, and
every check of a sweep's work item are rekey's, re-read now."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import errors
from ..domain.naming import user_of
from ..messages import Event, Severity, WorkAction, WorkItem
from ..ports import Ports
from .announce import notice, publish
from .work import RotationStep, WorkOutcome, run_work_item

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
# The sweep id of a step's work item: what the announcements say started the rotation.
SOURCE = "secretsmanager-rotation"


@dataclass(frozen=True)
class StepRequest:
    """A step as Secrets Manager sent it to the relay: `secret_id` is the secret's ARN (its
    name on the emulator), `token` the version being rotated to (ClientRequestToken)."""

    step: str
    secret_id: str
    token: str


def relay_account(ports: Ports, caller_arn: str) -> str:
    """The member account whose relay signed the request (AWS authenticated the caller), or
    Forbidden: only a session of the relay's role (REKEY_ROTATION_RELAY) may hand over a step,
    and only for its own account's secrets."""
    relay = ports.settings.rotation_relay
    if not relay:
        raise errors.Forbidden("Secrets Manager's rotation is off on this hub (REKEY_ROTATION_RELAY is empty)")
    parts = caller_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith(f"assumed-role/{relay}/"):
        return parts[4]
    raise errors.Forbidden(f"{caller_arn} is not rekey's rotation relay ({relay}) of a member account")


def secret_name_of(secret_id: str, account_id: str) -> str:
    """The secret's name, from the ARN Secrets Manager sends (the account's own, or Forbidden)."""
    if not secret_id.startswith("arn:"):
        return secret_id
    parts = secret_id.split(":", 6)
    if len(parts) != 7 or parts[2] != "secretsmanager" or parts[5] != "secret":
        raise errors.InvalidRequest(f"{secret_id!r} is not a secret's ARN")
    if parts[4] != account_id:
        raise errors.Forbidden(f"the relay of {account_id} asked about a secret of account {parts[4]}")
    return parts[6][:-7]  # Secrets Manager appends -XXXXXX to the name


def carry_out(ports: Ports, caller_arn: str, request: StepRequest) -> WorkOutcome:
    """Carry out one step for the relay that signed it. Raises Forbidden or InvalidRequest for a
    request rekey does not take (nothing done), or a RekeyError when the step failed: announced
    `failed`, and Secrets Manager records a failed rotation (rekey's next scan settles it)."""
    account_id = relay_account(ports, caller_arn)
    if request.step not in STEPS:
        steps = ", ".join(STEPS)
        raise errors.InvalidRequest(f"{request.step!r} is not a step of Secrets Manager's rotation ({steps})")
    name = secret_name_of(request.secret_id, account_id)
    user_name = user_of(ports.settings.secret_name, name, account_id)
    if user_name is None:
        raise errors.InvalidRequest(f"{name} is not a rekey secret name ({ports.settings.secret_name})")
    item = WorkItem(
        account_id=account_id,
        user_name=user_name,
        action=WorkAction.ROTATE,
        reason=f"Secrets Manager's rotation ({request.step})",
        sweep_id=SOURCE,
    )
    if request.step == "setSecret":
        # The service's side of a rotation: IAM holds the key from its creation in createSecret.
        return WorkOutcome(item, "noop", "IAM holds the new key since createSecret created it")
    try:
        return run_work_item(ports, item, step=RotationStep(request.step, request.token))
    except errors.RekeyError as exc:
        message = (
            f"{request.step} of Secrets Manager's rotation of {name} failed: {exc.code}: {exc}; Secrets Manager "
            "records a failed rotation, and rekey's next scan settles what it left"
        )
        failed = notice(Event.FAILED, Severity.ERROR, account_id, message, ports.now(), user_name=user_name)
        publish(ports, [failed])
        raise
