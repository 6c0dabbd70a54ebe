"""An operator's request to the hub's operator endpoint (rotate-now, rollback): its body, and
what the hub's answer means. The hub authenticates the request's signature and decides; this
shell never assumes a member role to act. The request travels through a HubEndpoint
(rekey_cli.ports): rekey_cli.hub_endpoint signs it with the operator's own credentials."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from rekey.domain import errors
from rekey.messages import OperatorCommand

from .ports import HubEndpoint

AWS_FORBIDDEN = (
    "the hub's operator endpoint refused the request (403 from AWS): your credentials may not call it "
    "(lambda:InvokeFunctionUrl and lambda:InvokeFunction, from inside the organization), or the signature "
    "did not verify (a wrong secret, a clock more than 5 minutes off)"
)


class HubFailure(errors.RekeyError):
    """The hub answered with a failure of its own (its code, e.g. `unavailable`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def command(**fields: Any) -> OperatorCommand:
    """The request's body, or UsageError with the first thing wrong with it."""
    try:
        return OperatorCommand(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "value_error":
            raise errors.UsageError(str(first["ctx"]["error"])) from None
        where = ".".join(map(str, first["loc"]))
        raise errors.UsageError(f"{where} {fields.get(where)!r}: {first['msg']}") from None


def ask(hub: HubEndpoint, request: OperatorCommand) -> dict[str, Any]:
    """The hub's answer to `request` (a JSON object), or the domain error it stands for:
    UsageError (400), Forbidden (403), Refused (409), HubFailure (any other failure),
    Unavailable (the endpoint cannot be reached); ConfigurationError without a URL."""
    return answer(*hub.post(request))


def answer(status: int, content: bytes) -> dict[str, Any]:
    """What the hub's HTTP answer says: its JSON object, or the domain error it stands for."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"message": content.decode(errors="replace").strip()[:300]}
    if status == 200:
        return body
    message = str(body.get("message") or body.get("Message") or f"HTTP {status}")
    if "error" not in body:  # Lambda's own answer: the hub never saw the request
        if status == 403:
            raise errors.Forbidden(AWS_FORBIDDEN)
        raise HubFailure("unavailable", f"the hub's operator endpoint answered {status}: {message}")
    if status == 400:
        raise errors.UsageError(message)
    if status == 403:
        raise errors.Forbidden(message)
    if status == 409:
        raise errors.Refused(message)
    raise HubFailure(str(body["error"]), message)
