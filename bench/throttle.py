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

JSON_PROTOCOLS = ("json", "rest-json", "smithy-rpc-v2-cbor")


@dataclass
class _Bucket:
    tokens: float
    at: float
    rng: random.Random


@dataclass
class Throttle:
    rate: float = 10.0  # calls per second per account
    burst: float = 10.0  # bucket size
    share: float = 0.2  # of the requests the bucket lets through, this share is throttled anyway
    seed: int = 6
    clock: Callable[[], float] = time.monotonic
    throttled: Counter[str] = field(default_factory=Counter)  # per account
    sent: Counter[str] = field(default_factory=Counter)  # HTTP attempts per account
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, client: Any, account: str) -> None:
        """Throttle `client`'s requests against `account`'s bucket (before moto can answer)."""
        protocol = client.meta.service_model.protocol
        service_id = client.meta.service_model.service_id.hyphenize()

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            return _throttled(request.url, protocol) if self._refuse(account) else None

        client.meta.events.register_first(f"before-send.{service_id}", before_send)

    def _refuse(self, account: str) -> bool:
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(account)
            if bucket is None:
                bucket = self._buckets[account] = _Bucket(self.burst, now, random.Random(f"{self.seed}:{account}"))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self.sent[account] += 1
            if bucket.tokens < 1 or bucket.rng.random() < self.share:
                self.throttled[account] += 1
                return True
            bucket.tokens -= 1
            return False


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
