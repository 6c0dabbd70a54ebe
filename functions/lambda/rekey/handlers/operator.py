"""Function URL (AuthType AWS_IAM) -> an operator's request (rotate-now, rollback), carried out
by the hub for the caller AWS authenticated.

Lambda verifies the request's SigV4 signature, and the function's resource policy (the hub
stack allows lambda:InvokeFunctionUrl from inside the organization only), before this runs:
`requestContext.authorizer.iam.userArn` is who signed the request, the only source of the
operator's identity. What that caller may ask, and for which accounts, is the hub's
configuration (REKEY_OPERATORS, rekey.use_cases.operator). The body says what to do
(rekey.messages.OperatorCommand), never who asks."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from pydantic import ValidationError

from ..domain import errors
from ..messages import OperatorCommand
from ..ports import Ports
from ..use_cases import operator
from ..use_cases.work import WorkOutcome
from .common import logger, runtime

REQUIRES = ("REKEY_TOPIC_ARN",)
# What each domain error answers, as HTTP status.
STATUS = {errors.UsageError: 400, errors.InvalidRequest: 400, errors.Forbidden: 403, errors.Refused: 409}


def process(event: dict[str, Any], rt: Ports) -> dict[str, Any]:
    """The function URL's answer (statusCode, headers, body) to one request."""
    try:
        request = LambdaFunctionUrlModel.model_validate(event)
    except ValidationError:
        return answer(400, {"error": "invalid-request", "message": "not a function URL request"})
    iam = request.requestContext.authorizer.iam if request.requestContext.authorizer else None
    caller = iam.userArn if iam else None
    if not caller:
        # A bare invocation, or a URL whose AuthType is not AWS_IAM: nobody was authenticated.
        message = "no caller authenticated by AWS (requestContext.authorizer.iam): call the function URL signed"
        return answer(403, {"error": "forbidden", "message": message})
    if request.requestContext.http.method != "POST":
        return answer(405, {"error": "invalid-request", "message": "POST an operator's request"})
    rt.act_for(caller)
    with logger.append_context_keys(caller=caller):
        try:
            operator.admit(rt, caller)
        except errors.Forbidden as exc:
            return failure(exc)
        try:
            command = OperatorCommand.model_validate_json(_body(request.body, request.isBase64Encoded))
        except (ValidationError, ValueError) as exc:
            why = f"malformed request ({_problems(exc)})"
            operator.reject(rt, caller, why)
            return answer(400, {"error": "invalid-request", "message": why})
        logger.info("operator's request", extra={"command": command.command, "account_id": command.account_id})
        try:
            done = operator.carry_out(rt, caller, command)
        except errors.RekeyError as exc:
            return failure(exc)
    if isinstance(done, WorkOutcome):
        events = [n.model_dump(mode="json", exclude_none=True) for n in done.notifications]
        return answer(200, {"command": command.command, "status": done.status, "detail": done.detail, "events": events})
    return answer(
        200,
        {
            "command": command.command,
            "account_id": done.account.account_id,
            "user_name": done.user_name,
            "key_id": done.key_id,
            "reactivated": done.reactivated,
            "paused_until": done.paused_until.isoformat(),
            "secret_name": done.secret_name,
            "message": done.message,
            "unannounced": done.unannounced,
        },
    )


def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def failure(exc: errors.RekeyError) -> dict[str, Any]:
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    return answer(status, {"error": exc.code, "message": str(exc)})


def _body(body: Any, encoded: bool) -> str:
    text = body if isinstance(body, str) else ""
    if encoded:
        try:
            return base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("body is not base64 of UTF-8 text") from None
    return text


def _problems(error: ValidationError | ValueError) -> str:
    """What is wrong with a body, by field and error type: never its values."""
    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['type']}" for e in error.errors()[:5])


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(event, runtime(REQUIRES))
