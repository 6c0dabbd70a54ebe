"""Function URL (AuthType AWS_IAM) -> a step of Secrets Manager's rotation of a user's secret,
handed over by rekey's relay in the secret's account (rekey.use_cases.rotation).

Lambda verifies the request's SigV4 signature and the function's resource policy (the hub stack
allows the organization's principals only) before this runs; the caller in
`requestContext.authorizer.iam.userArn` must be the relay's role of the secret's own account.
The body is the event Secrets Manager sent the relay: Step, SecretId, ClientRequestToken. The
answer: 200 when the step is done (or had nothing left to do); 409 when rekey refuses the
rotation (announced), 4xx for a request it does not take, 500 when the step failed — the relay
then fails, and Secrets Manager with it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..domain import errors
from ..messages import RotationStepEvent, problems
from ..ports import Ports
from ..use_cases import rotation
from .common import logger, runtime
from .function_url import Refusal, answer, body_text, failure, signed_request

REQUIRES = ("REKEY_TOPIC_ARN",)


def process(event: dict[str, Any], rt: Ports) -> dict[str, Any]:
    """The function URL's answer to one step."""
    try:
        request, caller = signed_request(event)
        body = RotationStepEvent.model_validate_json(body_text(request))
    except Refusal as refused:
        return refused.answer
    except (ValidationError, ValueError) as exc:
        return answer(400, {"error": "invalid-request", "message": f"malformed step ({problems(exc)})"})
    step = rotation.StepRequest(body.Step, body.SecretId, body.ClientRequestToken)
    with logger.append_context_keys(caller=caller, step=step.step, secret_id=step.secret_id):
        try:
            done = rotation.carry_out(rt, caller, step)
        except errors.RekeyError as exc:
            logger.warning("rotation step not done", extra={"error": exc.code})
            return failure(exc)
    logger.info("rotation step", extra={"status": done.status})
    status = 409 if done.status == "rejected" else 200
    return answer(status, {"step": step.step, "status": done.status, "detail": done.detail})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(event, runtime(REQUIRES))
