"""The classic recipe's manual event, invoked straight on the worker function (which hands it
here: rekey.handlers.worker): rekey.use_cases.classic."""

from __future__ import annotations

from typing import Any

from ..messages import Notification
from ..metrics import WORKER_METRICS, Recorder
from ..ports import Ports
from ..use_cases.classic import carry_out_classic
from .common import invocation_metrics, logger, metrics, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")


def process(event: dict[str, Any], rt: Ports, recorder: Recorder) -> dict[str, Any]:
    announced: list[Notification] = []
    context = {k: event.get(k) for k in ("account_id", "action") if isinstance(event.get(k), str)}
    with logger.append_context_keys(**context):
        try:
            return carry_out_classic(rt, event, announced)
        finally:
            recorder.announced(announced)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_metrics(WORKER_METRICS) as recorder:
        return process(event, runtime(REQUIRES), recorder)
