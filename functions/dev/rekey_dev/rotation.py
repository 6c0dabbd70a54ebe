"""Secrets Manager's rotation of rekey's secrets through the relay, played on the embedded emulator.

On AWS, RotateSecret makes Secrets Manager invoke the secret's rotation function, in the secret's
own account, once per step (createSecret, setSecret, testSecret, finishSecret). rekey's is the
relay each member account runs (spoke_templates/spoke-role.yaml, RotationRelayFunction): it
posts each step to the hub's rotation function URL, signed with its role. moto cannot run a
Lambda function (no Docker), so `install()` patches moto, in this process, to play that part:

- invoking a function whose deployed code is the relay's (the `ZipFile` text of the template,
  which moto's CloudFormation deploys as index.py) runs that very code in-process: its
  `handler(event, context)`, with the function's environment variables (and AWS_REGION) and the
  credentials of an STS session of its role, issued by moto as Lambda would hand them over
  (session name: the function's). Any other function keeps moto's behaviour;
- RotateSecret with such a function: AWS checks the function's policy lets
  secretsmanager.amazonaws.com invoke it (AccessDeniedException otherwise), answers, and runs
  the steps afterwards. So a failed step never fails RotateSecret here either, and it leaves what
  a failed rotation leaves on AWS: the AWSPENDING stub version, AWSCURRENT where it was, no new
  LastRotatedDate (moto moves AWSCURRENT to the stub and sets LastRotatedDate after its loop
  whatever the steps did). The steps still run before RotateSecret answers, which a test may rely
  on: AWS makes no such promise;
- moto's "Previous rotation request is still in progress" check is inverted: it refuses when
  AWSPENDING and AWSCURRENT are on the same version, which AWS documents as the state a finished
  rotation leaves, and lets a rotation start while AWSPENDING is on another version, which AWS
  documents as one still in progress. Here RotateSecret refuses the second ("A previous rotation
  isn't complete. That rotation will be reattempted.", InvalidRequestException, as AWS answers)
  and accepts the first;
- RotateSecret retried with the ClientRequestToken of a version that exists (the SDK's retry of
  a call whose answer was lost) answers that version and starts nothing: moto would overwrite
  the version (the new current key's) with an empty stub and rotate again. AWS's own answer is
  not documented; it never loses a version's value;
- RotateSecret without RotationLambdaARN uses the secret's configured rotation function, as AWS
  does (moto forgets it, then moves AWSCURRENT to an empty stub);
- RotateSecret of a secret without any version (rekey creates a user's secret empty for its first
  rotation) starts as any rotation does, where moto fails: AWS documents no such limit (if it
  refused one, the worker would store the first key itself: rekey.use_cases.work);
- UpdateSecretVersionStage attaching AWSCURRENT when no version holds it (the first rotation of a
  secret created empty) attaches it, as AWS does, where moto fails;
- RotateImmediately=false runs testSecret only (as moto and AWS do) on an AWSPENDING version holding
  the current value (moto copies the value the secret was *created* with: none for a secret
  created empty; whether AWS's test version holds a value at all is not documented) and, as AWS
  documents, removes that version afterwards; it is no rotation, so LastRotatedDate stays.

Not modelled: Secrets Manager's own retries of a failed rotation, the rotation window and schedule
(nothing rotates by itself), the RotateSecret caller's lambda:InvokeFunction on the function (moto
checks identity policies per API action only). Emulator only: nothing here is in the Lambda
package."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import time
import types
import uuid
import zipfile
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

RELAY_NAME = "rekey-rotation-relay"  # spoke-role.yaml's RotationRelayName default
RELAY_RESOURCES = (
    "RotationRelayRole",
    "RotationRelayFunction",
    "RotationRelaySecretsManagerPermission",
    "RotationRelayLogGroup",
)
RELAY_STACK_NAME = "rekey-rotation-relay"
SECRETS_MANAGER = "secretsmanager.amazonaws.com"
PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
IN_PROGRESS = "A previous rotation isn't complete. That rotation will be reattempted."

# Set while RotateSecret runs a rotation's steps: a failing relay then stops the rotation.
_rotating: contextvars.ContextVar[bool] = contextvars.ContextVar("rekey_rotating", default=False)
_installed = False


class StepFailed(Exception):
    """A rotation step's function failed: Secrets Manager stops that rotation there."""


@cache
def relay_code() -> str:
    """The relay, exactly as spoke_templates/spoke-role.yaml deploys it."""
    from .templates import SPOKE_ROLE_TEMPLATE, load_template

    function = load_template(SPOKE_ROLE_TEMPLATE)["Resources"]["RotationRelayFunction"]
    return str(function["Properties"]["Code"]["ZipFile"])


def deployed_code(function: Any) -> str | None:
    """The index.py of a function moto keeps (what CloudFormation deploys for an inline ZipFile)."""
    try:
        with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
            return archive.read("index.py").decode()
    except (AttributeError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        return None


def is_relay(function: Any) -> bool:
    return deployed_code(function) == relay_code()


class _Context:
    """What the relay reads of Lambda's context object."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_relay(
    environment: Mapping[str, str], credentials: Callable[[], Any], code: str | None = None
) -> types.ModuleType:
    """The relay's code (the template's unless `code` is given) as a module of its own: its
    `os.environ` is `environment` (not this process's), its `credentials()` is `credentials`."""
    module = types.ModuleType("index")
    exec(compile(code or relay_code(), "spoke-role.yaml:RotationRelayFunction", "exec"), module.__dict__)
    module.os = types.SimpleNamespace(environ=dict(environment))  # type: ignore[attr-defined]
    module.credentials = credentials  # type: ignore[attr-defined]
    return module


def _role_credentials(function: Any) -> Callable[[], Any]:
    """An STS session of the function's role, issued by moto, as Lambda hands it to the function."""
    from botocore.credentials import ReadOnlyCredentials

    from .function_url import role_session

    def credentials() -> ReadOnlyCredentials:
        session = role_session(function.account_id, function.region, function.role, function.function_name)
        return ReadOnlyCredentials(session.access_key_id, session.secret_access_key, session.session_token)

    return credentials


def run_relay(function: Any, event: dict[str, Any]) -> Any:
    """Invoke the deployed relay `function` (moto's) with `event`, in-process."""
    environment = {
        **{name: str(value) for name, value in (function.environment_vars or {}).items()},
        "AWS_REGION": function.region,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
    }
    relay = load_relay(environment, _role_credentials(function), deployed_code(function))
    # What it prints goes to its log (CloudWatch, on AWS), not this process's standard output.
    relay.print = lambda *args, **_: log.info("relay: %s", " ".join(map(str, args)))  # type: ignore[attr-defined]
    return relay.handler(event, _Context(function.function_name, float(function.timeout or 3)))


def _secrets_manager_may_invoke(function: Any, account_id: str) -> bool:
    """The function's policy lets Secrets Manager invoke it for a secret of `account_id`."""
    for statement in function.policy.statements:
        if statement.get("Effect", "Allow") != "Allow" or statement.get("Principal") != {"Service": SECRETS_MANAGER}:
            continue
        if statement.get("Action") not in ("lambda:InvokeFunction", "lambda:*"):
            continue
        source = statement.get("Condition", {}).get("StringEquals", {}).get("AWS:SourceAccount")
        if source in (None, account_id):
            return True
    return False


def _patched_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> Any:
        function = self.get_function(function_name, qualifier)
        if not is_relay(function):
            return original(self, function_name, qualifier, body, headers, response_headers)
        event = json.loads(body) if body else {}
        try:
            result = run_relay(function, event)
        except Exception as failed:  # the function's error, as Lambda reports it
            if _rotating.get():
                raise StepFailed(f"{event.get('Step')}: {failed}") from failed
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({"errorMessage": str(failed), "errorType": type(failed).__name__}).encode()
        else:
            payload = json.dumps(result).encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    return invoke


def _patched_rotate_secret(original: Callable[..., Any]) -> Callable[..., Any]:
    def rotate_secret(
        self: Any,
        secret_id: str,
        client_request_token: str | None = None,
        rotation_lambda_arn: str | None = None,
        rotation_rules: dict[str, Any] | None = None,
        rotate_immediately: bool = True,
    ) -> Any:
        from moto.secretsmanager.exceptions import InvalidRequestException, SecretsManagerClientError
        from moto.secretsmanager.models import ReplicaSecret

        secret = self.secrets[secret_id] if self._is_valid_identifier(secret_id) else None
        if secret is None or isinstance(secret, ReplicaSecret) or secret.is_deleted():
            return original(
                self, secret_id, client_request_token, rotation_lambda_arn, rotation_rules, rotate_immediately
            )
        rotation_lambda_arn = rotation_lambda_arn or secret.rotation_lambda_arn or None
        function = _function(self.account_id, self.region_name, rotation_lambda_arn)
        if function is not None and is_relay(function) and not _secrets_manager_may_invoke(function, self.account_id):
            raise SecretsManagerClientError(
                "AccessDeniedException",
                "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy "
                f"grants access to the principal {SECRETS_MANAGER}.",
            )
        if client_request_token is not None and client_request_token in secret.versions:
            # A retried request (the SDK sends the same token again when an answer was lost):
            # it names a version that exists, so it was carried out already. AWS keeps a
            # version's value once written; moto would overwrite it with an empty stub (the new
            # current key lost) and rotate again. Answered as done, nothing started (AWS's own
            # answer to such a retry is not documented).
            return secret.to_short_dict(version_id=client_request_token)
        pending = [v for v in secret.versions.values() if PENDING in v["version_stages"]]
        if any(CURRENT not in v["version_stages"] for v in pending):
            raise InvalidRequestException(IN_PROGRESS)
        for version in pending:  # a finished rotation's label: the new stub takes it
            version["version_stages"].remove(PENDING)

        last_rotated = secret.last_rotation_date
        before = set(secret.versions)
        created_with = secret.secret_string, secret.secret_binary
        if not rotate_immediately and secret.default_version_id in secret.versions:
            # moto copies the value the secret was created with into the test's version: the
            # current one's, as it means to.
            current = secret.versions[secret.default_version_id]
            secret.secret_string, secret.secret_binary = current.get("secret_string"), current.get("secret_binary")
        if not secret.versions and rotate_immediately:
            # moto fails to start a rotation of a secret that has no version yet (rekey's first
            # rotation of a user creates it empty); AWS documents no such limit, so the rotation
            # starts as any other does: an empty version labelled AWSPENDING.
            client_request_token = client_request_token or str(uuid.uuid4())
            stub = {"createdate": int(time.time()), "version_id": client_request_token, "version_stages": [PENDING]}
            secret.versions[client_request_token] = stub
        running = _rotating.set(True)
        try:
            answer = original(
                self, secret_id, client_request_token, rotation_lambda_arn, rotation_rules, rotate_immediately
            )
        except StepFailed as failed:
            # AWS answered before this step ran: the rotation stops where it failed.
            log.info("rotation of %s stopped: %s", secret.name, failed)
            stub = next(
                (v for v in set(secret.versions) - before if PENDING in secret.versions[v]["version_stages"]), None
            )
            answer = secret.to_short_dict(version_id=stub)
        finally:
            _rotating.reset(running)
            secret.secret_string, secret.secret_binary = created_with
        if not rotate_immediately:  # only a test of the configuration: no rotation happened
            for version_id in set(secret.versions) - before:
                if secret.versions[version_id]["version_stages"] == [PENDING]:
                    del secret.versions[version_id]
            secret.last_rotation_date = last_rotated
        # moto points its default version at the stub whatever finishSecret did: AWSCURRENT is
        # where the rotation function put it.
        current = [v for v, version in secret.versions.items() if CURRENT in version["version_stages"]]
        if current:
            secret.default_version_id = current[0]
        return answer

    return rotate_secret


def _patched_update_secret_version_stage(original: Callable[..., Any]) -> Callable[..., Any]:
    """AWSCURRENT attached to a version when no version holds it (a secret created empty, whose
    first rotation's finishSecret makes the new version current): AWS needs no
    RemoveFromVersionId then, moto fails (IndexError, a 500)."""

    def update_secret_version_stage(
        self: Any, secret_id: str, version_stage: str, remove_from_version_id: str, move_to_version_id: str
    ) -> Any:
        if version_stage == CURRENT and not remove_from_version_id and secret_id in self.secrets:
            secret = self.secrets[secret_id]
            held = any(CURRENT in v["version_stages"] for v in secret.versions.values())
            if not held and move_to_version_id in secret.versions:
                secret.versions[move_to_version_id]["version_stages"].append(CURRENT)
                secret.default_version_id = move_to_version_id
                return secret.arn, secret.name
        return original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)

    return update_secret_version_stage


def _function(account_id: str, region: str, arn: str | None) -> Any:
    """moto's function `arn` in the secret's account and region, or None."""
    if not arn:
        return None
    from moto.awslambda.utils import get_backend

    try:
        return get_backend(account_id, region).get_function(arn)
    except Exception:  # moto's not-found; RotateSecret answers it itself
        return None


def install() -> None:
    """Patch moto (in this process, once) to run rekey's relay as the secrets' rotation function."""
    global _installed
    if _installed:
        return
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.secretsmanager.models import SecretsManagerBackend

    for backend in (LambdaBackend, LambdaSimpleBackend):
        if "invoke" in vars(backend):
            backend.invoke = _patched_invoke(vars(backend)["invoke"])  # type: ignore[method-assign]
    SecretsManagerBackend.rotate_secret = _patched_rotate_secret(SecretsManagerBackend.rotate_secret)  # type: ignore[method-assign]
    SecretsManagerBackend.update_secret_version_stage = _patched_update_secret_version_stage(  # type: ignore[method-assign]
        SecretsManagerBackend.update_secret_version_stage
    )
    _installed = True


def relay_template() -> dict[str, Any]:
    """spoke-role.yaml reduced to the relay: its resources, the parameters and condition they use."""
    from .templates import SPOKE_ROLE_TEMPLATE, load_template

    template = load_template(SPOKE_ROLE_TEMPLATE)
    names = ("HubAccountId", "HubRotationUrl", "RotationRelayName")
    return {
        "AWSTemplateFormatVersion": template["AWSTemplateFormatVersion"],
        "Parameters": {name: template["Parameters"][name] for name in names},
        "Conditions": {"HasRotationRelay": template["Conditions"]["HasRotationRelay"]},
        "Resources": {name: template["Resources"][name] for name in RELAY_RESOURCES},
        "Outputs": {"RotationRelayArn": template["Outputs"]["RotationRelayArn"]},
    }


@cache
def _relay_template_body() -> str:
    """relay_template() as a stack's body, parsed from the YAML once (reliability labs deploy
    the relay in an account each: ~70 ms a parse)."""
    return json.dumps(relay_template())


def deploy_relay(
    emulator: Any, account_id: str, *, rotation_url: str, name: str = RELAY_NAME, hub_account_id: str | None = None
) -> str:
    """The rotation relay in member account `account_id`, created by the emulator's CloudFormation
    from spoke-role.yaml's own resources (as a stack of their own, for an account whose spoke
    stack exists: `templates.deploy_spoke_role(..., HubRotationUrl=url)` deploys all at once);
    posting to `rotation_url`. Its function's ARN."""
    from .authz import _inline_policies_as_json
    from .emulator import MANAGEMENT_ACCOUNT
    from .templates import _wait

    cfn = emulator.account_client("cloudformation", account_id)
    parameters = {
        "HubAccountId": hub_account_id or MANAGEMENT_ACCOUNT,
        "HubRotationUrl": rotation_url,
        "RotationRelayName": name,
    }
    cfn.create_stack(
        StackName=RELAY_STACK_NAME,
        TemplateBody=_relay_template_body(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in _wait(cfn, RELAY_STACK_NAME)["Outputs"]}
    _inline_policies_as_json()  # moto keeps a YAML policy document as a dict (and returns its repr)
    return outputs["RotationRelayArn"]
