"""What the hub's function URLs (AuthType AWS_IAM) share: the request's authenticated caller, its
body, and the JSON answers (rekey.handlers.operator, rekey.handlers.rotation)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from pydantic import ValidationError

from ..domain import errors

# What each domain error answers, as HTTP status.
STATUS = {errors.UsageError: 400, errors.InvalidRequest: 400, errors.Forbidden: 403, errors.Refused: 409}


class Refusal(Exception):
    """The request is answered before anything is done: `answer` says why."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer["body"])
        self.answer = answer


def signed_request(event: dict[str, Any]) -> tuple[LambdaFunctionUrlModel, str]:
    """The request and the caller AWS authenticated (`requestContext.authorizer.iam.userArn`,
    the only source of who asks), or Refusal: not a function URL request, or nobody signed it."""
    try:
        request = LambdaFunctionUrlModel.model_validate(event)
    except ValidationError:
        raise Refusal(answer(400, {"error": "invalid-request", "message": "not a function URL request"})) from None
    iam = request.requestContext.authorizer.iam if request.requestContext.authorizer else None
    caller = iam.userArn if iam else None
    if not caller:
        # A bare invocation, or a URL whose AuthType is not AWS_IAM: nobody was authenticated.
        message = "no caller authenticated by AWS (requestContext.authorizer.iam): call the function URL signed"
        raise Refusal(answer(403, {"error": "forbidden", "message": message}))
    return request, caller


def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def failure(exc: errors.RekeyError) -> dict[str, Any]:
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    return answer(status, {"error": exc.code, "message": str(exc)})


def body_text(request: LambdaFunctionUrlModel) -> str:
    """The request's body as text (ValueError: base64 that is not UTF-8)."""
    text = request.body if isinstance(request.body, str) else ""
    if request.isBase64Encoded:
        try:
            return base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("body is not base64 of UTF-8 text") from None
    return text
