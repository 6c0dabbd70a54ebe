"""Daily schedule -> one scan request per ACTIVE account on the scan queue."""

from __future__ import annotations

from typing import Any

from ..runtime import Runtime
from ..service import fan_out, new_sweep_id
from .common import logger, runtime

REQUIRES = ("REKEY_SCAN_QUEUE_URL", "REKEY_TOPIC_ARN")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, rt: Runtime | None = None) -> dict[str, Any]:
    rt = rt or runtime(REQUIRES)
    sweep_id = new_sweep_id(rt.now())
    logger.append_keys(sweep_id=sweep_id)
    accounts = fan_out(rt, sweep_id)
    logger.info("sweep queued", extra={"accounts": accounts})
    return {"sweep_id": sweep_id, "accounts": accounts}
