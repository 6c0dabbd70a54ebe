"""What one work item's run announces, as it goes, and the outcome it ends with."""

from __future__ import annotations

import logging
from typing import Any

from ...domain.entities import IamUser
from ...domain.models import Action
from ...messages import Event, Notification, Severity, WorkItem
from ...ports import Ports
from ..announce import notice, publish
from .values import OperatorRequest, WorkOutcome

log = logging.getLogger(__name__)


class Voice:
    """Announces at once: an action's announcement follows it before anything else is done.
    An announcement that cannot be made fails the item: SQS redelivers it, and the next attempt
    announces what this one did (a rotation's intent is cleared only after)."""

    def __init__(
        self, ports: Ports, item: WorkItem, request: OperatorRequest | None, said: list[Notification] | None
    ) -> None:
        self.ports = ports
        self.item = item
        self.requested_by = request.requested_by if request is not None else None
        self.now = ports.now()
        # What was announced, also when the run raises (what was done before the failure).
        self.notifications: list[Notification] = said if said is not None else []

    def notice(
        self, event: Event, severity: Severity, message: str, user: IamUser | None, late: bool = False, **fields: Any
    ) -> None:
        if self.requested_by is not None:
            fields["requested_by"] = self.requested_by
        if late:
            fields["late"] = True
            message += " (announced late: the attempt that did it stopped before announcing it)"
        item = self.item
        n = notice(
            event,
            severity,
            item.account_id,
            message,
            self.now,
            user=user,
            user_name=item.user_name,
            sweep_id=item.sweep_id,
            **fields,
        )
        self.notifications.append(n)
        publish(self.ports, [n], strict=True)

    def outcome(self, status: str, detail: str, performed: list[Action] | None = None) -> WorkOutcome:
        item = self.item
        log.info("work item %s %s/%s %s: %s", item.action.value, item.account_id, item.user_name, status, detail)
        return WorkOutcome(item, status, detail, performed or [], self.notifications)
