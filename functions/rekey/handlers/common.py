"""What every handler shares: the logger and the runtime, built on first use (not at import)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from ..runtime import Runtime
from ..settings import Settings

logger = Logger(service="rekey")

_runtime: Runtime | None = None


def runtime(require: tuple[str, ...]) -> Runtime:
    """The process-wide runtime, so clients and assumed roles are reused across invocations."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(Settings.from_env(require=require))
    return _runtime
