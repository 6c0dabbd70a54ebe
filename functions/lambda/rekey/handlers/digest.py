"""Daily schedule, hours after the sweep -> one digest on the topic (rekey.digest)."""

from __future__ import annotations

from typing import Any

from ..ports import Ports
from ..use_cases.digest import run_digest
from .common import logger, runtime

REQUIRES = ("REKEY_DIGEST_QUEUE_URL", "REKEY_TOPIC_ARN")


def process(event: dict[str, Any], rt: Ports, wait_seconds: int = 2) -> dict[str, Any]:
    """Publish the day's digest from the digest queue. `wait_seconds`: SQS long polling per
    receive (an empty answer then means an empty queue)."""
    run = run_digest(rt, wait_seconds=wait_seconds)
    summary = run.notification.digest
    assert summary is not None
    logger.info(
        "digest published",
        extra={"records": run.received, "unreadable": run.unreadable, "needs_human": summary.needs_human_total},
    )
    return {
        "records": run.received,
        "accounts_scanned": summary.accounts_scanned,
        "needs_human": summary.needs_human_total,
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(event, runtime(REQUIRES))
