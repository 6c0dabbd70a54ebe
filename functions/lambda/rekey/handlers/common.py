"""What every handler shares: the logger, the metrics, and the runtime, built on first use
(not at import)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics

from ..metrics import NAMESPACE, SERVICE, Metric, PowertoolsSink, Recorder
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

_runtime: Runtime | None = None


def runtime(require: tuple[str, ...]) -> Runtime:
    """The process-wide runtime, so clients and assumed roles are reused across invocations."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(Settings.from_env(require=require))
    return _runtime


@contextmanager
def invocation_metrics(always: Iterable[Metric]) -> Iterator[Recorder]:
    """A recorder for one Lambda invocation, published through Powertools when it ends (also when
    it fails): `always` even when zero, the accounts scanned as metadata, searchable in Logs
    Insights but not a dimension (see rekey.metrics). `@metrics.log_metrics` flushes them."""
    recorder = Recorder()
    try:
        yield recorder
    finally:
        if recorder.accounts:
            metrics.add_metadata(key="account_ids", value=sorted(recorder.accounts))
        recorder.publish(PowertoolsSink(metrics), always=always)
