"""One admitted work item's run: what every step of it reads (the item, the Subject admitted)
and the little it changes as it goes, all set when it begins."""

from __future__ import annotations

from typing import Any

from ...domain.entities import IamUser, SecretRecord
from ...domain.models import AccessKey, Action, Policy
from ...messages import Event, Severity, WorkItem
from ...ports import AccountIam, Ports, UserSecrets
from ...settings import Settings
from .admission import Subject
from .values import OperatorRequest, RotationStep, Stop
from .voice import Voice


class Work:
    def __init__(
        self,
        ports: Ports,
        item: WorkItem,
        subject: Subject,
        voice: Voice,
        *,
        request: OperatorRequest | None = None,
        step: RotationStep | None = None,
        redelivered: bool = False,
    ) -> None:
        self.ports = ports
        self.item = item
        self.subject = subject
        self.voice = voice
        self.request = request
        self.step = step
        # An earlier attempt at this item stopped: what it did and did not announce is announced.
        self.redelivered = redelivered
        # The user's keys as read, less those deleted since.
        self.keys: dict[str, AccessKey] = {k.key_id: k for k in subject.keys}
        # The rotation's announcement made and its intent cleared (rekey.use_cases.work.protocol).
        self.intent_cleared = False
        # Secrets Manager's rotation of the secret is configured as the user's policy says, or
        # it was handed a rotation, which configures it (rekey.use_cases.work.secrets_manager).
        self.rotation_configured = False

    # -- what was read at admission

    @property
    def settings(self) -> Settings:
        return self.ports.settings

    @property
    def user(self) -> IamUser:
        return self.subject.user

    @property
    def name(self) -> str:
        return self.subject.name

    @property
    def record(self) -> SecretRecord:
        return self.subject.record

    @property
    def policy(self) -> Policy:
        return self.subject.policy

    @property
    def iam(self) -> AccountIam:
        return self.subject.iam

    @property
    def secrets(self) -> UserSecrets:
        return self.subject.secrets

    @property
    def listed(self) -> list[AccessKey]:
        return list(self.subject.keys)

    # -- what every step uses

    def notice(self, event: Event, severity: Severity, message: str, late: bool = False, **fields: Any) -> None:
        """Announce about the user, at once."""
        self.voice.notice(event, severity, message, self.user, late, **fields)

    def secret_policy(self) -> dict[str, Any]:
        """The resource policy rekey puts on the user's secret."""
        return self.settings.secret_policy(self.user.arn, self.item.account_id)

    def conflict(self, why: str) -> None:
        """Stop: the secret is not provably rekey's. Announced; a human decides."""
        message = f"{why}. Move or delete the secret (rekey then creates its own), or repair it as break-glass"
        self.notice(Event.CONFLICT, Severity.ERROR, message, secret_name=self.name)
        raise Stop("rejected", why)


def key_of(action: Action) -> str:
    """The key an action is about; decide() names one for every kind but a rotation."""
    assert action.key_id, action
    return action.key_id
