"""Fault injection for tests: count calls, fail chosen calls over HTTP (so botocore's retries
see them), or crash the process right after a call succeeded."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse


class SimulatedCrash(BaseException):
    """The worker died right after a call succeeded (a Lambda timeout, an OOM kill)."""


@dataclass
class Rule:
    service: str
    operation: str
    kind: str  # "error" | "crash"
    code: str = "InternalFailure"
    status: int = 500
    times: int = 1  # how many matching calls to affect (0 = all)
    skip: int = 0  # let this many matching calls through first
    match: Callable[[dict[str, Any]], bool] | None = None
    seen: int = 0
    fired: int = 0

    def targets(self, service: str, operation: str, params: dict[str, Any]) -> bool:
        return (service, operation) == (self.service, self.operation) and (self.match is None or self.match(params))

    def take(self) -> bool:
        """Count one matching attempt; True when this one is to be affected."""
        self.seen += 1
        if self.seen <= self.skip or (self.times and self.fired >= self.times):
            return False
        self.fired += 1
        return True


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kw: Any) -> Any:
        yield self._body

    def read(self, *_a: Any) -> bytes:
        return self._body


@dataclass
class Faults:
    """A `make_client` for `Runtime.build` that counts and injects."""

    rules: list[Rule] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)  # (service, operation) -> logical calls
    sends: Counter = field(default_factory=Counter)  # HTTP attempts, retries included

    def fail(self, service: str, operation: str, code: str = "InternalFailure", status: int = 500, **kw: Any) -> Rule:
        rule = Rule(service, operation, "error", code, status, **kw)
        self.rules.append(rule)
        return rule

    def crash_after(self, service: str, operation: str, **kw: Any) -> Rule:
        rule = Rule(service, operation, "crash", **kw)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def count(self, service: str | None = None, operation: str | None = None) -> int:
        return sum(
            n
            for (s, o), n in self.calls.items()
            if (service is None or s == service) and (operation is None or o == operation)
        )

    def make_client(self, service: str, **kwargs: Any) -> Any:
        client = boto3.client(service, **kwargs)
        events = client.meta.events
        protocol = client.meta.service_model.protocol
        service_id = client.meta.service_model.service_id.hyphenize()

        def before_parameter_build(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            # Emitted once per API call (not per retry), with the caller's parameters.
            self.calls[(service, model.name)] += 1
            context["operation_name"] = model.name
            context["faults"] = [r for r in self.rules if r.targets(service, model.name, params)]

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            # Once per HTTP attempt: an injected error is seen by botocore's retry logic.
            self.sends[(service, request.context.get("operation_name", ""))] += 1
            for rule in request.context.get("faults", []):
                if rule.kind == "error" and rule.take():
                    return _error_response(request.url, protocol, rule)
            return None

        def after_call(model: Any, context: dict[str, Any], http_response: Any = None, **_: Any) -> None:
            if http_response is not None and http_response.status_code >= 300:
                return
            for rule in context.get("faults", []):
                if rule.kind == "crash" and rule.take():
                    raise SimulatedCrash(f"crashed after {service}:{model.name}")

        events.register(f"before-parameter-build.{service_id}", before_parameter_build)
        events.register(f"before-send.{service_id}", before_send)
        events.register(f"after-call.{service_id}", after_call)
        return client


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
