"""Fault injection for tests: count calls, fail chosen calls over HTTP (so botocore's retries
see them), time them out (before or after AWS applied them), crash the process right after a
call succeeded, or run something right after a call (to interleave two workers)."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

from bench.throttle import on_backoff

Params = dict[str, Any]


class SimulatedCrash(BaseException):
    """The worker died right after a call succeeded (a Lambda timeout, an OOM kill)."""


@dataclass
class Rule:
    service: str
    operation: str
    # "error" | "timeout" | "lost-response" (once per HTTP attempt); "crash" | "after" (once
    # per call, after it succeeded); "watch" (once per call, before it is sent)
    kind: str
    code: str = "InternalFailure"
    status: int = 500
    times: int = 1  # how many matching calls to affect (0 = all)
    skip: int = 0  # let this many matching calls through first
    match: Callable[[Params], bool] | None = None
    callback: Callable[[Params], None] | None = None
    on_error: bool = False  # "crash", "after": also after AWS answered with an error (e.g. NotFound)
    first_attempts: int = 0  # "error": affect the first N HTTP attempts of every matching call
    seen: int = 0
    fired: int = 0

    def targets(self, service: str, operation: str, params: Params) -> bool:
        """`service` and `operation` may be "*" (any)."""
        return (
            self.service in ("*", service)
            and self.operation in ("*", operation)
            and (self.match is None or self.match(params))
        )

    def take(self, attempt: int = 1) -> bool:
        """Count one matching attempt; True when this one is to be affected."""
        if self.first_attempts:
            self.seen += 1
            self.fired += attempt <= self.first_attempts
            return attempt <= self.first_attempts
        self.seen += 1
        if self.seen <= self.skip or (self.times and self.fired >= self.times):
            return False
        self.fired += 1
        return True


WRITES = ("Create", "Update", "Delete", "Put", "Tag", "Untag", "Publish", "Send")


@dataclass
class Chance(Rule):
    """A rule that affects each matching call with probability `rate` (times `write_weight` for
    a write), drawn from a seeded `rng`: the same seed, the same faults."""

    rate: float = 0.0
    write_weight: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    chosen: int = 0  # calls affected (`fired` counts HTTP attempts)

    def targets(self, service: str, operation: str, params: Params) -> bool:
        if not super().targets(service, operation, params):
            return False
        weight = self.write_weight if operation.startswith(WRITES) else 1.0
        hit = self.rng.random() < self.rate * weight
        self.chosen += hit
        return hit


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kw: Any) -> Any:
        yield self._body

    def read(self, *_a: Any) -> bytes:
        return self._body


@dataclass
class Faults:
    """A `make_client` for `Runtime.build` that counts and injects.

    With `instant_backoff`, botocore's standard retry handler still decides whether and when
    to retry (its conditions, attempt limit and retry quota are the real ones), but the delay
    it computes is recorded in `backoffs` instead of slept, so tests of failures past retries
    do not spend minutes in backoff sleeps."""

    instant_backoff: bool = False
    rules: list[Rule] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)  # (service, operation) -> logical calls
    sends: Counter = field(default_factory=Counter)  # HTTP attempts, retries included
    backoffs: list[tuple[str, str, float]] = field(default_factory=list)  # (service, operation, delay)
    log: list[tuple[str, str]] = field(default_factory=list)  # (service, operation) of every call, in order
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def fail(self, service: str, operation: str, code: str = "InternalFailure", status: int = 500, **kw: Any) -> Rule:
        return self._add(Rule(service, operation, "error", code, status, **kw))

    def timeout(self, service: str, operation: str, *, applied: bool = False, **kw: Any) -> Rule:
        """Time the call out: before it reaches AWS (a connect timeout), or with `applied`
        after AWS carried it out (a read timeout on the response). botocore retries both."""
        return self._add(Rule(service, operation, "lost-response" if applied else "timeout", **kw))

    def crash_after(self, service: str, operation: str, **kw: Any) -> Rule:
        return self._add(Rule(service, operation, "crash", **kw))

    def after(self, service: str, operation: str, callback: Callable[[Params], None], **kw: Any) -> Rule:
        """Run `callback(params)` right after a matching call succeeded, before the caller sees it."""
        return self._add(Rule(service, operation, "after", callback=callback, **kw))

    def watch(self, service: str, operation: str, callback: Callable[[Params], None]) -> Rule:
        """Run `callback(params)` before every matching call is sent (e.g. to check an invariant)."""
        return self._add(Rule(service, operation, "watch", times=0, callback=callback))

    def chaos(self, rng: random.Random, fault_rate: float, crash_rate: float) -> tuple[Chance, Chance]:
        """Random faults: each call fails on every attempt (so past botocore's retries) with
        probability `fault_rate`, and the process dies right after a call that succeeded with
        probability `crash_rate`, three times as often after a write."""
        fail = Chance("*", "*", "error", times=0, rate=fault_rate, rng=rng)
        crash = Chance("*", "*", "crash", times=0, rate=crash_rate, write_weight=3.0, rng=rng)
        self._add(fail)
        self._add(crash)
        return fail, crash

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def count(self, service: str | None = None, operation: str | None = None) -> int:
        return sum(
            n
            for (s, o), n in self.calls.items()
            if (service is None or s == service) and (operation is None or o == operation)
        )

    def _take(self, rule: Rule, attempt: int = 1) -> bool:
        with self._lock:
            return rule.take(attempt)

    def make_client(self, service: str, **kwargs: Any) -> Any:
        client = boto3.client(service, **kwargs)
        events = client.meta.events
        protocol = client.meta.service_model.protocol
        service_id = client.meta.service_model.service_id.hyphenize()

        def before_parameter_build(model: Any, params: Params, context: dict[str, Any], **_: Any) -> None:
            # Emitted once per API call (not per retry), with the caller's parameters.
            with self._lock:
                self.calls[(service, model.name)] += 1
                self.log.append((service, model.name))
                rules = [r for r in self.rules if r.targets(service, model.name, params)]
            context["operation_name"] = model.name
            context["fault_params"] = dict(params)
            context["faults"] = rules
            for rule in rules:
                if rule.kind == "watch" and rule.callback and self._take(rule):
                    rule.callback(dict(params))

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            # Once per HTTP attempt: an injected error is seen by botocore's retry logic.
            with self._lock:
                self.sends[(service, request.context.get("operation_name", ""))] += 1
            attempt = request.context.get("retries", {}).get("attempt", 1)
            for rule in request.context.get("faults", []):
                if rule.kind == "error" and self._take(rule, attempt):
                    return _error_response(request.url, protocol, rule)
                if rule.kind == "timeout" and self._take(rule):
                    raise ConnectTimeoutError(endpoint_url=request.url)
                if rule.kind == "lost-response" and self._take(rule):
                    URLLib3Session().send(request)  # AWS carries it out; the answer never arrives
                    raise ReadTimeoutError(endpoint_url=request.url)
            return None

        def after_call(model: Any, context: dict[str, Any], http_response: Any = None, **_: Any) -> None:
            answered_ok = http_response is None or http_response.status_code < 300
            for rule in context.get("faults", []):
                if not (answered_ok or rule.on_error):
                    continue
                if rule.kind == "crash" and self._take(rule):
                    raise SimulatedCrash(f"crashed after {service}:{model.name}")
                if rule.kind == "after" and rule.callback and self._take(rule):
                    rule.callback(context.get("fault_params", {}))

        events.register(f"before-parameter-build.{service_id}", before_parameter_build)
        events.register(f"before-send.{service_id}", before_send)
        events.register(f"after-call.{service_id}", after_call)
        if self.instant_backoff and client.meta.config.retries.get("mode") == "standard":
            self._record_backoff_instead_of_sleeping(client, service)
        return client

    def _record_backoff_instead_of_sleeping(self, client: Any, service: str) -> None:
        def record(operation: str, delay: float) -> None:
            with self._lock:
                self.backoffs.append((service, operation, delay))

        on_backoff(client, record)


def _error_response(url: str, protocol: str, rule: Rule) -> AWSResponse:
    if protocol in ("json", "rest-json", "smithy-rpc-v2-cbor"):
        body = json.dumps({"__type": rule.code, "message": "injected fault"}).encode()
        headers = {"x-amzn-errortype": rule.code, "content-type": "application/x-amz-json-1.1"}
    else:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{rule.code}</Code><Message>injected fault</Message></Error>"
            "<RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        headers = {"content-type": "text/xml"}
    return AWSResponse(url, rule.status, headers, _Raw(body))
