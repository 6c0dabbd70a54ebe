"""What a work item's run is asked and answers: an operator's request, a step of Secrets
Manager's rotation, the outcome, and how a run stops early."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...domain.models import Action
from ...messages import Notification, WorkItem


@dataclass
class WorkOutcome:
    item: WorkItem
    status: str  # done | noop | rejected | waiting (outside the rotation window, or held)
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

    @property
    def later(self) -> bool:
        """A step after createSecret: it acts only on the key createSecret created under every
        check, so it reads the user (its ARN, its tag), the secret and the keys, not the user's
        privileges nor when its keys were last used."""
        return self.step != "createSecret"


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
    # `rekey rotate-now --key-id`: the key that leaked (rekey.domain.manual).
    leaked_key_id: str | None = None

    @property
    def operator(self) -> bool:
        return not self.classic


class Stop(Exception):
    """The run ends here with `status` (announced already, if it needed saying): `noop` when
    another worker is acting on the same user (it created the secret or a key since this one
    read them: the next sweep re-reads and re-decides), `rejected` when the item may not or
    cannot be carried out, and retrying cannot help until a human acts."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
