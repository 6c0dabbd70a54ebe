"""Function URL (AuthType AWS_IAM) -> an operator's request (rotate-now, rollback), carried out
by the hub for the caller AWS authenticated.

Lambda verifies the request's SigV4 signature, and the function's resource policy (the hub
stack allows lambda:InvokeFunctionUrl from inside the organization only), before this runs:
`requestContext.authorizer.iam.userArn` is who signed the request, the only source of the
operator's identity. What that caller may ask, and for which accounts, is the hub's
configuration (REKEY_OPERATORS, rekey.use_cases.operator). The body says what to do
(rekey.messages.OperatorCommand), never who asks."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..domain import errors
from ..messages import OperatorCommand, problems
from ..ports import Ports
from ..use_cases import operator
from .common import logger, runtime
from .function_url import Refusal, answer, body_text, failure, signed_request

REQUIRES = ("REKEY_TOPIC_ARN",)


def process(event: dict[str, Any], rt: Ports) -> dict[str, Any]:
    """The function URL's answer (statusCode, headers, body) to one request."""
    try:
        request, caller = signed_request(event)
    except Refusal as refused:
        return refused.answer
    if request.requestContext.http.method != "POST":
        return answer(405, {"error": "invalid-request", "message": "POST an operator's request"})
    rt.act_for(caller)
    with logger.append_context_keys(caller=caller):
        try:
            operator.admit(rt, caller)
        except errors.Forbidden as exc:
            return failure(exc)
        try:
            command = OperatorCommand.model_validate_json(body_text(request))
        except (ValidationError, ValueError) as exc:
            why = f"malformed request ({problems(exc)})"
            operator.reject(rt, caller, why)
            return answer(400, {"error": "invalid-request", "message": why})
        logger.info("operator's request", extra={"command": command.command, "account_id": command.account_id})
        try:
            done = operator.carry_out(rt, caller, command)
        except errors.RekeyError as exc:
            return failure(exc)
    return answer(200, operator.answer_of(command, done))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(event, runtime(REQUIRES))
