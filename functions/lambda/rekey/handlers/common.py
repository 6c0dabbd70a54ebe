"""What every handler shares: the logger, the metrics, and the runtime, built on first use
(not at import)."""

from __future__ import annotations

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics

from ..domain.errors import RekeyError
from ..metrics import NAMESPACE, SERVICE
from ..runtime import Runtime
from ..settings import Settings

# At DEBUG botocore logs every request and response body: CreateAccessKey's answer holds the new
# key's secret, PutSecretValue's request the stored one. Whatever the log level (LOG_LEVEL,
# POWERTOOLS_LOG_LEVEL, Lambda's application log level, which puts the root logger at DEBUG;
# the CLI's -vv), the AWS SDK's loggers stay at WARNING.
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def quiet_sdk_loggers() -> None:
    """Hold the AWS SDK's and its HTTP library's loggers at WARNING."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_sdk_loggers()  # at import: Lambda's runtime has configured logging by then

logger = Logger(service="rekey")
# EMF records in the function's log, flushed at the end of each invocation (@metrics.log_metrics).
# Dimensions: `service` only (see rekey.metrics).
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# A Lambda invocation always records something. A caller with its own recorder (the CLI, the demo,
# the benchmark) leaves Powertools nothing to flush, which it would warn about on every call.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

_runtime: Runtime | None = None


def runtime(require: tuple[str, ...]) -> Runtime:
    """The process-wide runtime, so clients and assumed roles are reused across invocations."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(Settings.from_env(require=require))
    return _runtime


def max_receive_count(rt: Runtime) -> int | None:
    """The work queue's maxReceiveCount; None when it cannot be read (then no attempt is known
    to be the last, and the DLQ's alarm is what tells)."""
    try:
        return rt.work_max_receive_count()
    except RekeyError as exc:
        logging.getLogger(__name__).warning("cannot read the work queue's redrive policy: %s", exc)
        return None
