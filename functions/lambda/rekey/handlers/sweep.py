"""Daily schedule -> one scan request per ACTIVE account on the scan queue."""

from __future__ import annotations

from typing import Any

from .. import digest
from ..metrics import SWEEP_METRICS, PowertoolsSink, Recorder
from ..runtime import Runtime
from ..service import fan_out, new_sweep_id
from .common import logger, metrics, runtime

REQUIRES = ("REKEY_SCAN_QUEUE_URL", "REKEY_TOPIC_ARN")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, rt: Runtime | None = None) -> dict[str, Any]:
    rt = rt or runtime(REQUIRES)
    now = rt.now()
    sweep_id = new_sweep_id(now)
    logger.append_keys(sweep_id=sweep_id)
    accounts = fan_out(rt, sweep_id)
    digest.record(rt, digest.sweep_started(sweep_id, accounts, now))
    recorder = Recorder()
    recorder.listed(len(accounts))
    recorder.publish(PowertoolsSink(metrics), always=SWEEP_METRICS)
    logger.info("sweep queued", extra={"accounts": len(accounts)})
    return {"sweep_id": sweep_id, "accounts": len(accounts)}
