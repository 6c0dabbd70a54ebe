"""IAM-like throttling for the emulator: a token bucket per account, plus a share of requests
throttled at random (AWS throttles on limits it does not publish, shared with every other caller
in the account). A throttled request is answered before it leaves botocore with the HTTP 400
`Throttling` error AWS sends, so botocore's retry logic sees exactly what it would see."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.retries import standard

JSON_PROTOCOLS = ("json", "rest-json", "smithy-rpc-v2-cbor")
REFUSED = "bench_throttled"  # in a request's context: the throttle answered it


def _moto_skips_refused_requests() -> None:
    """botocore runs every before-send handler and takes the first answer: moto's in-process
    emulator (mock_aws) would carry out a request the throttle refused, and a retried write would
    then be done twice. Make it skip those (once per process; harmless for the moto server)."""
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber, "_skips_refused", False):
        return
    serve = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        return None if request.context.get(REFUSED) else serve(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]
    BotocoreStubber._skips_refused = True  # type: ignore[attr-defined]


@dataclass
class _Bucket:
    tokens: float
    at: float
    rng: random.Random


@dataclass
class Throttle:
    rate: float = 10.0  # calls per second per account and service (IAM's and Secrets Manager's limits are apart)
    burst: float = 10.0  # bucket size
    share: float = 0.2  # of the requests the bucket lets through, this share is throttled anyway
    seed: int = 6
    clock: Callable[[], float] = time.monotonic
    throttled: Counter[str] = field(default_factory=Counter)  # per account
    sent: Counter[str] = field(default_factory=Counter)  # HTTP attempts per account
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, client: Any, account: str) -> None:
        """Throttle `client`'s requests against its account's bucket for its service (before moto
        can answer)."""
        protocol = client.meta.service_model.protocol
        service_id = client.meta.service_model.service_id.hyphenize()

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            refused = request.context[REFUSED] = self._refuse(account, service_id)  # per attempt: a retry may pass
            return _throttled(request.url, protocol) if refused else None

        _moto_skips_refused_requests()
        client.meta.events.register_first(f"before-send.{service_id}", before_send)

    def _refuse(self, account: str, service: str) -> bool:
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get((account, service))
            if bucket is None:
                rng = random.Random(f"{self.seed}:{account}:{service}")
                bucket = self._buckets[(account, service)] = _Bucket(self.burst, now, rng)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self.sent[account] += 1
            if bucket.tokens < 1 or bucket.rng.random() < self.share:
                self.throttled[account] += 1
                return True
            bucket.tokens -= 1
            return False


@dataclass
class VirtualClock:
    """Simulated time, so that a day at IAM's pace runs in minutes: every HTTP attempt takes
    `latency`, and botocore's backoff (and anything given `sleep`) advances the clock instead of
    sleeping. Give `now` to a Throttle, `install` to a Meter (after the throttle's)."""

    seconds: float = 0.0
    latency: float = 0.05  # IAM answers in tens of milliseconds

    def now(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)

    def install(self, client: Any, account: str) -> None:
        service_id = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{service_id}", lambda **_: self.sleep(self.latency))
        on_backoff(client, lambda _operation, delay: self.sleep(delay))


def on_backoff(client: Any, spend: Callable[[str, float], None]) -> None:
    """Swap the client's standard retry handler for an identical one (same retry decisions, same
    retry quota) whose backoff delay goes to `spend(operation, delay)` instead of being slept:
    botocore sleeps for whatever the needs-retry handler returns."""
    if client.meta.config.retries.get("mode") != "standard":
        raise ValueError("on_backoff needs botocore's standard retry mode")
    events = client.meta.events
    service_id = client.meta.service_model.service_id.hyphenize()
    event, unique_id = f"needs-retry.{service_id}", f"retry-config-{service_id}"
    events.unregister(event, unique_id=unique_id)
    handler = standard.register_retry_handler(client, max_attempts=client.meta.config.retries["total_max_attempts"])
    events.unregister(event, unique_id=unique_id)

    def needs_retry(**kwargs: Any) -> float | None:
        delay = handler.needs_retry(**kwargs)
        if delay is None or delay is False:
            return delay
        spend(kwargs["operation"].name, delay)
        return 0.0

    events.register(event, needs_retry, unique_id=unique_id)


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


def _throttled(url: str, protocol: str) -> AWSResponse:
    if protocol in JSON_PROTOCOLS:
        code = "ThrottlingException"
        body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
        headers = {"x-amzn-errortype": code, "content-type": "application/x-amz-json-1.1"}
    else:
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            b"<Message>Rate exceeded</Message></Error><RequestId>bench</RequestId></ErrorResponse>"
        )
        headers = {"content-type": "text/xml"}
    return AWSResponse(url, 400, headers, _Body(body))
