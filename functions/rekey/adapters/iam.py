"""AWS IAM: tagged users, their keys, and the three key writes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..domain.errors import NotFound
from ..domain.models import AccessKey, KeyStatus, KeyUse
from .errors import aws_call

PERMISSIONS = {
    "spoke_read": (
        "iam:GetAccountAuthorizationDetails",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetUser",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
    ),
    # Only on users tagged for rotation (iam:ResourceTag condition in the spoke role).
    "spoke_key_write": ("iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"),
}

PAGE_SIZE = 1000  # GetAccountAuthorizationDetails' maximum


@dataclass(frozen=True)
class IamUser:
    name: str
    user_id: str
    arn: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportKey:
    """A key as the credential report sees it (no key id): enough to tell whether it may be
    due, and for the compliance report of users rekey does not manage."""

    active: bool
    created: datetime
    slot: int = 1  # access_key_1 or access_key_2
    last_used: KeyUse | None = None


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret_access_key: str = field(repr=False)
    created: datetime


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class IamAdapter:
    def __init__(self, client: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._sleep = sleep

    def users_with_tag(self, tag_key: str) -> list[IamUser]:
        """Users carrying `tag_key` (any value), with all their tags: ⌈users/1000⌉ calls."""
        return [user for user in self.all_users() if tag_key in user.tags]

    def all_users(self) -> list[IamUser]:
        """Every user with its tags: ⌈users/1000⌉ calls."""
        users: list[IamUser] = []
        kwargs: dict[str, Any] = {"Filter": ["User"], "MaxItems": PAGE_SIZE}
        while True:
            with aws_call("iam:GetAccountAuthorizationDetails"):
                page = self._client.get_account_authorization_details(**kwargs)
            for user in page.get("UserDetailList", []):
                users.append(IamUser(user["UserName"], user["UserId"], user["Arn"], _tags(user.get("Tags"))))
            if not page.get("IsTruncated"):
                return users
            kwargs["Marker"] = page["Marker"]

    def credential_report(self, attempts: int = 20, delay: float = 0.5) -> dict[str, list[ReportKey]]:
        """Keys per user ARN from the credential report (generated if needed; at most 4 h old)."""
        for attempt in range(attempts):
            with aws_call("iam:GenerateCredentialReport"):
                state = self._client.generate_credential_report()["State"]
            if state == "COMPLETE":
                break
            self._sleep(min(delay * (2**attempt), 5.0))
        with aws_call("iam:GetCredentialReport"):
            content = self._client.get_credential_report()["Content"]
        return parse_credential_report(content.decode() if isinstance(content, bytes) else content)

    def get_user(self, name: str) -> IamUser:
        with aws_call("iam:GetUser"):
            user = self._client.get_user(UserName=name)["User"]
        return IamUser(user["UserName"], user["UserId"], user["Arn"], _tags(user.get("Tags")))

    def access_keys(self, name: str) -> list[AccessKey]:
        """The user's keys with their last use: 1 + one call per key (at most 2)."""
        with aws_call("iam:ListAccessKeys"):
            metadata = self._client.list_access_keys(UserName=name)["AccessKeyMetadata"]
        keys = []
        for meta in metadata:
            with aws_call("iam:GetAccessKeyLastUsed"):
                used = self._client.get_access_key_last_used(AccessKeyId=meta["AccessKeyId"])
            last = used.get("AccessKeyLastUsed", {})
            use = None
            if last.get("LastUsedDate"):
                use = KeyUse(_utc(last["LastUsedDate"]), last.get("ServiceName"), last.get("Region"))
            keys.append(AccessKey(meta["AccessKeyId"], KeyStatus(meta["Status"]), _utc(meta["CreateDate"]), use))
        return keys

    def key_owner(self, key_id: str) -> str | None:
        """The name of the user `key_id` belongs to; None when there is no such key."""
        try:
            with aws_call("iam:GetAccessKeyLastUsed"):
                owner = self._client.get_access_key_last_used(AccessKeyId=key_id).get("UserName")
        except NotFound:
            return None
        return owner if isinstance(owner, str) else None

    def create_key(self, name: str) -> NewKey:
        with aws_call("iam:CreateAccessKey"):
            key = self._client.create_access_key(UserName=name)["AccessKey"]
        return NewKey(key["AccessKeyId"], key["SecretAccessKey"], _utc(key["CreateDate"]))

    def set_status(self, name: str, key_id: str, status: KeyStatus) -> None:
        with aws_call("iam:UpdateAccessKey"):
            self._client.update_access_key(UserName=name, AccessKeyId=key_id, Status=status.value)

    def delete_key(self, name: str, key_id: str) -> None:
        with aws_call("iam:DeleteAccessKey"):
            self._client.delete_access_key(UserName=name, AccessKeyId=key_id)


def parse_credential_report(content: str) -> dict[str, list[ReportKey]]:
    """Keys per user ARN. The report's fields are not quoted and IAM user names may contain
    commas, so each row is split from the right (fixed columns) and the user's ARN is found
    after the first `,arn:` (user names cannot contain `:`)."""
    lines = content.splitlines()
    if not lines:
        return {}
    header = lines[0].split(",")
    trailing = len(header) - 2  # columns after `user,arn`
    index = {name: i for i, name in enumerate(header[2:])}
    report: dict[str, list[ReportKey]] = {}
    for line in lines[1:]:
        parts = line.rsplit(",", trailing)
        if len(parts) != trailing + 1:
            continue
        head, fields = parts[0], parts[1:]
        at = head.find(",arn:")
        if at < 0:
            continue
        arn = head[at + 1 :]
        keys = []
        for n in (1, 2):
            created = fields[index[f"access_key_{n}_last_rotated"]]
            if created in _NONE:
                continue
            active = fields[index[f"access_key_{n}_active"]] == "true"
            keys.append(ReportKey(active, _utc(datetime.fromisoformat(created)), n, _report_use(fields, index, n)))
        report[arn] = keys
    return report


_NONE = ("N/A", "not_supported", "no_information", "")


def _report_use(fields: list[str], index: dict[str, int], n: int) -> KeyUse | None:
    def column(name: str) -> str:
        i = index.get(f"access_key_{n}_last_used_{name}")
        return fields[i] if i is not None else ""

    at = column("date")
    if at in _NONE:
        return None
    try:
        when = _utc(datetime.fromisoformat(at))
    except ValueError:
        return None
    service, region = column("service"), column("region")
    return KeyUse(when, None if service in _NONE else service, None if region in _NONE else region)
