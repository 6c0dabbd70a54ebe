"""AWS STS: into member accounts, and proof that a new key works."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import aws_call

PERMISSIONS = {"hub": ("sts:AssumeRole",), "key": ("sts:GetCallerIdentity",)}

SESSION_NAME = "rekey"


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

    def assume(self, role_arn: str) -> tuple[Credentials, Any]:
        """Credentials for `role_arn` and their expiry."""
        with aws_call(f"sts:AssumeRole {role_arn}"):
            response = self._client.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)
        c = response["Credentials"]
        return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), c["Expiration"]

    def caller_arn(self) -> str:
        with aws_call("sts:GetCallerIdentity"):
            return self._client.get_caller_identity()["Arn"]
