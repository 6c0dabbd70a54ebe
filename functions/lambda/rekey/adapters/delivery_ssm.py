"""SSM Parameter Store as a delivery destination (rekey.domain.delivery): the key, as the JSON
rekey's secret holds, in a SecureString parameter of the user's own account, written through
the spoke writer role. The parameter is rekey's when it carries the user's id in its
`rekey:user-id` tag (set when rekey creates it); any other parameter of that name is someone
else's, and never overwritten."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..domain import errors
from ..domain.entities import IamUser, NewKey
from ..domain.secret_state import USER_ID_TAG
from .errors import aws_call

PERMISSIONS = {
    # The writer's, only on parameters under /rekey/ (spoke_templates/spoke-role.yaml). A
    # customer managed KMS key (the destination's kms_key_id) must let the writer encrypt.
    "spoke_delivery": (
        "ssm:PutParameter",
        "ssm:ListTagsForResource",
        # PutParameter's Tags, on a parameter rekey creates: whose it is, from its first version.
        "ssm:AddTagsToResource",
    ),
}


class SsmParameterDestination:
    def __init__(self, client: Any, name: str, user: IamUser, kms_key_id: str | None = None) -> None:
        self._client = client
        self._name = name
        self._user = user
        self._kms_key_id = kms_key_id

    def push(self, key: NewKey, written: str | None, remember: Callable[[str], None] | None = None) -> str:
        """Write the key: 1 call to tell whose the parameter is, 1 to write it (a new one with
        its tag, in the same call). `written` and `remember` are not needed: the tag says whose
        it is, also after an interrupted push."""
        name = self._name
        owner = self._owner()
        if owner is not None and owner != self._user.user_id:
            whose = "another user's" if owner else "not rekey's (no rekey:user-id tag)"
            raise errors.Conflict(f"parameter {name} exists and is {whose}")
        value = json.dumps({"AccessKey": key.key_id, "SecretKey": key.secret_access_key})
        arguments: dict[str, Any] = {
            "Name": name,
            "Value": value,
            "Type": "SecureString",
            "Overwrite": owner is not None,
        }
        if self._kms_key_id:
            arguments["KeyId"] = self._kms_key_id
        if owner is None:
            arguments["Tags"] = [{"Key": USER_ID_TAG, "Value": self._user.user_id}]
        try:
            with aws_call(f"ssm:PutParameter {name}"):
                version = self._client.put_parameter(**arguments)["Version"]
        except errors.RekeyError as exc:
            if "ParameterAlreadyExists" in str(exc):  # created by someone else since it was read
                raise errors.Conflict(f"parameter {name} was created by someone else meanwhile") from None
            raise
        return f"{name} version {version}"

    def _owner(self) -> str | None:
        """The user id the parameter is tagged with ("" if untagged), or None: no parameter."""
        try:
            with aws_call(f"ssm:ListTagsForResource {self._name}"):
                tags = self._client.list_tags_for_resource(ResourceType="Parameter", ResourceId=self._name)["TagList"]
        except errors.RekeyError as exc:
            if "InvalidResourceId" in str(exc) or isinstance(exc, errors.NotFound):
                return None
            raise
        return next((t["Value"] for t in tags if t["Key"] == USER_ID_TAG), "")
