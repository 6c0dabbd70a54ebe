"""Daily schedule -> one scan request per ACTIVE account on the scan queue."""

from __future__ import annotations

from typing import Any

from ..metrics import SWEEP_METRICS, PowertoolsSink, Recorder
from ..ports import Ports
from ..use_cases.digest import record_for_digest, sweep_started
from ..use_cases.sweep import fan_out, new_sweep_id
from .common import logger, metrics, runtime

REQUIRES = ("REKEY_SCAN_QUEUE_URL", "REKEY_TOPIC_ARN")


def process(event: dict[str, Any], rt: Ports, recorder: Recorder | None = None) -> dict[str, Any]:
    """Queue a scan of every account in scope; the sweep's id and how many accounts."""
    now = rt.now()
    sweep_id = new_sweep_id(now)
    logger.append_keys(sweep_id=sweep_id)
    accounts = fan_out(rt, sweep_id)
    record_for_digest(rt, sweep_started(sweep_id, accounts, now))
    if recorder is not None:
        recorder.listed(len(accounts))
    logger.info("sweep queued", extra={"accounts": len(accounts)})
    return {"sweep_id": sweep_id, "accounts": len(accounts)}


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    recorder = Recorder()
    response = process(event, runtime(REQUIRES), recorder)
    # Only once the accounts are queued: a sweep that failed listed nothing (its Errors alarm tells).
    recorder.publish(PowertoolsSink(metrics), always=SWEEP_METRICS)
    return response
