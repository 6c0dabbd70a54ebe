"""An operator's request to the hub's operator endpoint (rotate-now, rollback): a POST signed
with the operator's own AWS credentials (SigV4, service `lambda`, botocore's signer and
credential chain) to the function URL in REKEY_OPERATOR_URL (the hub stack's OperatorUrl
output). The hub authenticates the signature and decides; this shell never assumes a member
role to act."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore import exceptions as aws
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session
from pydantic import ValidationError

from rekey.domain import errors
from rekey.messages import OperatorCommand

OPERATOR_URL = "REKEY_OPERATOR_URL"
SERVICE = "lambda"
# Longer than the operator function's timeout (hub/template.yaml): its answer is worth waiting for.
TIMEOUT_SECONDS = 150
# https://<url-id>.lambda-url.<region>.on.aws
_FUNCTION_URL_HOST = re.compile(r"[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws")
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


def send(request: OperatorCommand, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The hub's answer to `request` (a JSON object), or the domain error it stands for:
    UsageError (400), Forbidden (403), Refused (409), HubFailure (any other failure),
    Unavailable (the endpoint cannot be reached); ConfigurationError without a URL."""
    env = os.environ if env is None else env
    url = env.get(OPERATOR_URL, "").strip()
    if not url:
        raise errors.ConfigurationError(
            f"{OPERATOR_URL} is not set: rotate-now and rollback are carried out by the hub; "
            "set it to the hub stack's OperatorUrl output"
        )
    if urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).netloc:
        raise errors.ConfigurationError(f"{OPERATOR_URL}={url!r} is not an https:// URL (the hub's OperatorUrl)")
    session = botocore.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise aws.NoCredentialsError()
    signed = AWSRequest(
        method="POST",
        url=url,
        data=request.model_dump_json().encode(),
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(credentials.get_frozen_credentials(), SERVICE, _region(url, session)).add_auth(signed)
    try:
        response = URLLib3Session(timeout=TIMEOUT_SECONDS).send(signed.prepare())
    except (aws.ConnectionError, aws.HTTPClientError) as exc:
        raise errors.Unavailable(f"cannot reach the hub's operator endpoint {url}: {exc}") from None
    return _answer(response.status_code, response.content)


def _region(url: str, session: botocore.session.Session) -> str:
    """The function URL's own region, else the configured one (an emulator's URL names none)."""
    host = _FUNCTION_URL_HOST.fullmatch(urlsplit(url).hostname or "")
    region = host.group(1) if host else session.get_config_variable("region")
    if not region:
        raise aws.NoRegionError()
    return str(region)


def _answer(status: int, content: bytes) -> dict[str, Any]:
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
