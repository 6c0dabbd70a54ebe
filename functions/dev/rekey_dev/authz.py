"""IAM authorization on the embedded emulator, closer to AWS's than moto's own.

moto (5.2) enforces identity policies once `POST /moto-api/reset-auth` switches it on, but it
authorizes most calls against the resource "*" and ignores the condition operators we rely on,
so a role scoped to `secret:rekey/*` or to users tagged `rekey:rotate=true` would be refused
everything or granted too much. `enforced(emulator)` switches authorization on and, for as long
as it lasts, teaches the in-process server (it must be `rekey_dev.emulator.start()`'s):

- the resource a call acts on: the secret (Secrets Manager), the user (IAM), the topic (SNS);
- the IAM action AWS really checks for SQS batch calls (SendMessageBatch is sqs:SendMessage ...);
- `iam:ResourceTag/<key>` for calls on a user, evaluated with `StringEquals` and
  `StringEqualsIgnoreCase`; a user without the tag does not match (as in AWS).

Not modelled (moto limitations, checked against the policy documents instead): trust policies
across accounts (moto never evaluates them for a role in another account), `aws:PrincipalOrgID`,
resource policies, KMS. On exit authorization is switched off again: moto's state is global to
the server and `/moto-api/reset` leaves authorization as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock
from urllib.request import Request, urlopen

# AWS authorizes batch calls as their single-message action.
ACTION_ALIASES = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
RESOURCE_TAG = "iam:resourcetag/"


def set_authorization(emulator: Any, on: bool) -> None:
    """Switch moto's IAM authorization on (from the next request) or off."""
    request = Request(
        f"{emulator.url}/moto-api/reset-auth",
        data=b"0" if on else b"inf",
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    urlopen(request, timeout=10).read()


@contextmanager
def enforced(emulator: Any) -> Iterator[None]:
    """IAM authorization on, with resources, batch actions and resource-tag conditions as in AWS.
    Every request inside needs real credentials (the emulator's dummy ones are refused)."""
    from moto.iam import access_control, policy_conditions
    from moto.iam.responses import IamResponse
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.sns.responses import SNSResponse

    operations = dict(policy_conditions.CONDITION_OPERATIONS)
    operations["StringEqualsIgnoreCase"] = _string_equals_ignore_case
    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(policy_conditions.CONDITION_OPERATIONS, operations))
        stack.enter_context(
            mock.patch.object(access_control.IAMRequestBase, "check_action_permitted", _check_action_permitted)
        )
        stack.enter_context(mock.patch.object(IamResponse, "_determine_resource", _iam_resource, create=True))
        stack.enter_context(
            mock.patch.object(SecretsManagerResponse, "_determine_resource", _secret_resource, create=True)
        )
        stack.enter_context(mock.patch.object(SNSResponse, "_determine_resource", _topic_resource, create=True))
        _inline_policies_as_json()
        set_authorization(emulator, True)
        try:
            yield
        finally:
            set_authorization(emulator, False)


def _inline_policies_as_json() -> None:
    """moto keeps the inline policies of roles created by CloudFormation as dicts, which its
    authorizer cannot read (and GetRolePolicy returns as Python reprs): store them as JSON."""
    import json

    from moto.iam.models import iam_backends

    for account_id in list(iam_backends.keys()):
        for backend in iam_backends[account_id].values():
            for role in backend.roles.values():
                for name, document in list(role.policies.items()):
                    if isinstance(document, dict):
                        role.policies[name] = json.dumps(document)


def _string_equals_ignore_case(expected: list[str] | str, actual: str) -> bool:
    values = [expected] if isinstance(expected, str) else expected
    return actual.lower() in {v.lower() for v in values}


class _ResourceTags(dict):  # type: ignore[type-arg]
    """Condition context of a call on an IAM user: every `iam:ResourceTag/<key>` is present,
    with the user's value or "" when the user lacks the tag, so that tag conditions fail for
    untagged users (moto skips a condition whose key is absent from the context)."""

    def __init__(self, tags: dict[str, str]) -> None:
        super().__init__()
        self._tags = {k.lower(): v for k, v in tags.items()}

    def __bool__(self) -> bool:  # moto skips conditions when the context is falsy
        return True

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower().startswith(RESOURCE_TAG)

    def __getitem__(self, key: str) -> str:
        return self._tags.get(key[len(RESOURCE_TAG) :].lower(), "")


def _check_action_permitted(self: Any, resource: str) -> None:
    """moto's IAMRequestBase.check_action_permitted, plus action aliases and a condition context."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self._action == "sts:GetCallerIdentity":  # AWS answers it whatever the policies say
        return
    action = ACTION_ALIASES.get(self._action, self._action)
    context = _user_context(self)
    permitted = False
    for policy in self._access_key.collect_policies():
        result = IAMPolicy(policy).is_action_permitted(action, resource, None, context)
        if result == PermissionResult.DENIED:
            self._raise_access_denied()
        elif result == PermissionResult.PERMITTED:
            permitted = True
    if self._is_assuming_role_operation(resource):
        permitted = permitted and self._check_role_trust_relationship(resource)
    if not permitted:
        self._raise_access_denied()


def _param(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def _target_user(backend: Any, data: dict[str, Any]) -> str | None:
    """The user an IAM call acts on: its UserName, or the owner of its AccessKeyId
    (GetAccessKeyLastUsed names only the key; AWS authorizes it on the key's user)."""
    user_name = _param(data, "UserName")
    if user_name:
        return user_name
    key_id = _param(data, "AccessKeyId")
    if key_id:
        try:
            return backend.get_access_key_last_used(key_id)["user_name"]
        except Exception:
            return None
    return None


def _user_context(request: Any) -> dict[str, str] | None:
    if not request._action.startswith("iam:"):
        return None
    user_name = _target_user(request.backend, request._data)
    if not user_name:
        return None
    try:
        tags = request.backend.list_user_tags(user_name)
    except Exception:  # an unknown user: IAM itself answers NoSuchEntity
        return None
    return _ResourceTags({t["Key"]: t["Value"] for t in tags})


def _iam_resource(self: Any) -> str:
    role_name = _param(self.data, "RoleName")
    if role_name:
        return self._resolve_resource_arn(role_name)
    user_name = _target_user(self.backend, self.data)
    if user_name:
        try:
            return self.backend.get_user(user_name).arn
        except Exception:
            return f"arn:{self.partition}:iam::{self.current_account}:user/{user_name}"
    return "*"


def _secret_resource(self: Any) -> str:
    secret_id = self._get_param("SecretId")
    if secret_id:
        if secret_id in self.backend.secrets:
            return self.backend.secrets[secret_id].arn
        if secret_id.startswith("arn:"):
            return secret_id
    name = secret_id or self._get_param("Name")
    if name:  # CreateSecret, or a secret not there: the ARN it has or will have (random suffix)
        return f"arn:{self.partition}:secretsmanager:{self.region}:{self.current_account}:secret:{name}-??????"
    return "*"


def _topic_resource(self: Any) -> str:
    return self._get_param("TopicArn") or "*"
