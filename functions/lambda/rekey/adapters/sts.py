"""AWS STS: into member accounts, and proof that a new key works."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..domain import errors
from .errors import aws_call

PERMISSIONS = {"hub": ("sts:AssumeRole",), "key": ("sts:GetCallerIdentity",)}

SESSION_NAME = "rekey"
# RoleSessionName: 2 to 64 of these characters.
_UNSAFE = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret half
        return f"Credentials(access_key_id={self.access_key_id!r}, ...)"

    def as_client_kwargs(self) -> dict[str, str]:
        kwargs = {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }
        if self.session_token:
            kwargs["aws_session_token"] = self.session_token
        return kwargs


class StsAdapter:
    def __init__(self, client: Any) -> None:
        self._client = client

    def assume(self, role_arn: str, *, session_name: str = SESSION_NAME) -> tuple[Credentials, Any]:
        """Credentials for `role_arn` and their expiry. `session_name` names the session in the
        role's account's CloudTrail."""
        try:
            with aws_call(f"sts:AssumeRole {role_arn}"):
                response = self._client.assume_role(RoleArn=role_arn, RoleSessionName=session_name)
        except errors.AccessDenied as exc:
            raise errors.AccountUnreachable(str(exc)) from None
        c = response["Credentials"]
        return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), c["Expiration"]

    def caller_arn(self) -> str:
        with aws_call("sts:GetCallerIdentity"):
            return self._client.get_caller_identity()["Arn"]


def person_of(caller_arn: str) -> str:
    """Who a caller is, as a session name accepts it: the user of
    `...:user/path/alice`, the session of `...:assumed-role/Role/alice@example.com` (what
    IAM Identity Center and most identity providers set to the person's name), else the
    last part of the ARN."""
    resource = caller_arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    name = rest.rsplit("/", 1)[-1] if kind in ("user", "assumed-role", "federated-user") and rest else kind
    return safe_name(name)


def safe_name(value: str) -> str:
    """`value` as a RoleSessionName: allowed characters only, 2 to 64 of them."""
    cleaned = _UNSAFE.sub("-", value)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"[:2]
