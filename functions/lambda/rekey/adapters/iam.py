"""AWS IAM: tagged users, their keys, and the three key writes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..domain import errors
from ..domain.entities import IamUser, NewKey, ReportKey
from ..domain.errors import NotFound
from ..domain.models import AccessKey, KeyStatus, KeyUse
from ..domain.privilege import PRIVILEGED_AWS_MANAGED, Grants, PolicyDoc, Role, aws_managed_name, may_be_assumed_from
from .errors import aws_call, error_code
from .paging import every_item, every_page

# Which spoke role grants which group: rekey.runtime.SPOKE_ROLE_GROUPS.
PERMISSIONS = {
    # The scan's (the reader's): every user of the account at once (with
    # iam:GetAccountAuthorizationDetails, in spoke_authz).
    "spoke_enumerate": (
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
    ),
    # One user and its keys (reader and writer).
    "spoke_read": (
        "iam:GetUser",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
    ),
    # Judging a user's privileges (a privileged user is refused): the worker reads one user's
    # policies; the scan reads them all with GetAccountAuthorizationDetails. Both read the
    # account's roles and customer managed policies with GetAccountAuthorizationDetails (a role
    # the user may assume counts with its own policies). AWS managed policies' documents are
    # read once per process (they are the same in every account).
    "spoke_authz": (
        "iam:GetAccountAuthorizationDetails",
        "iam:ListUserPolicies",
        "iam:GetUserPolicy",
        "iam:ListAttachedUserPolicies",
        "iam:ListGroupsForUser",
        "iam:ListGroupPolicies",
        "iam:GetGroupPolicy",
        "iam:ListAttachedGroupPolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
    ),
    # Only on users tagged for rotation (iam:ResourceTag condition in the spoke role).
    "spoke_key_write": ("iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"),
}

PAGE_SIZE = 1000  # GetAccountAuthorizationDetails' maximum
# GetCredentialReport's answers while a report is being generated (ReportInProgress; moments
# after GenerateCredentialReport, ReportNotPresent), or after the last one aged past 4 hours.
_REPORT_NOT_READY = ("ReportInProgress", "ReportNotPresent", "ReportExpired")


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class AwsManagedPolicies:
    """AWS managed policies' documents, read once per process: they are the same in every
    account. Thread-safe enough: a race reads a document twice."""

    def __init__(self) -> None:
        self._documents: dict[str, Any] = {}

    def document(self, client: Any, arn: str) -> Any:
        if arn not in self._documents:
            with aws_call("iam:GetPolicy"):
                version = client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            with aws_call("iam:GetPolicyVersion"):
                document = client.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            self._documents[arn] = document
        return self._documents[arn]


AWS_MANAGED = AwsManagedPolicies()


class IamDirectory:
    """IAM's users in one account, with their tags and what their policies allow them (the
    privilege guard's input: rekey.domain.privilege)."""

    def __init__(self, client: Any, aws_managed: AwsManagedPolicies = AWS_MANAGED) -> None:
        self._client = client
        self._aws_managed = aws_managed

    def users_with_tag(self, tag_key: str) -> list[IamUser]:
        """Users carrying `tag_key` (any value), with all their tags: ⌈users/1000⌉ calls."""
        return [user for user in self.all_users() if tag_key in user.tags]

    def all_users(self) -> list[IamUser]:
        """Every user with its tags and its policies (its own, its groups', the managed ones it
        has, and the roles it may assume with theirs): ⌈(users + groups + roles + customer managed
        policies)/1000⌉ calls, plus one GetPolicy and GetPolicyVersion per AWS managed policy not
        read before by this process (of the users, and of the roles a principal of the account
        may assume)."""
        details = self._details(["User", "Group", "Role", "LocalManagedPolicy"])
        groups = {g["GroupName"]: g for g in details["GroupDetailList"]}
        local = self._local(details["Policies"])
        roles = self._roles(details["RoleDetailList"], local)
        return [
            self._user(
                u, self._grants(u, [groups.get(g, {"GroupName": g}) for g in u.get("GroupList", [])], local, roles)
            )
            for u in details["UserDetailList"]
        ]

    def _details(self, entities: list[str]) -> dict[str, list[dict[str, Any]]]:
        """GetAccountAuthorizationDetails' lists for `entities`, every page."""
        lists: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
        }
        pages = every_page(
            self._client,
            "get_account_authorization_details",
            "iam:GetAccountAuthorizationDetails",
            page_size=PAGE_SIZE,
            Filter=entities,
        )
        for page in pages:
            for key, items in lists.items():
                items.extend(page.get(key, []))
        return lists

    @staticmethod
    def _local(policies: list[dict[str, Any]]) -> dict[str, Any]:
        """Customer managed policies' default documents by ARN (None: no default version)."""
        local: dict[str, Any] = {}
        for policy in policies:
            default = next((v for v in policy.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
            local[policy["Arn"]] = default.get("Document") if default else None
        return local

    def _roles(self, details: list[dict[str, Any]], local: dict[str, Any]) -> tuple[Role, ...]:
        """The roles a principal of their account may be able to assume (by their trust
        policies), with their policies; the others (trusting services, other accounts) are not
        read further."""
        roles = []
        for role in details:
            arn, trust = role["Arn"], role.get("AssumeRolePolicyDocument")
            if not may_be_assumed_from(trust, arn.split(":")[4]):
                continue
            policies = [
                PolicyDoc(f"inline policy {p['PolicyName']!r}", p.get("PolicyDocument"))
                for p in role.get("RolePolicyList", [])
            ]
            policies += self._managed(role.get("AttachedManagedPolicies", []), "attached policy", local)
            roles.append(Role(arn, trust, tuple(policies)))
        return tuple(roles)

    @staticmethod
    def _user(detail: dict[str, Any], grants: Grants | None) -> IamUser:
        return IamUser(detail["UserName"], detail["UserId"], detail["Arn"], _tags(detail.get("Tags")), grants)

    def _grants(
        self, user: dict[str, Any], groups: list[dict[str, Any]], local: dict[str, Any], roles: tuple[Role, ...]
    ) -> Grants:
        """The user's policies as documents: inline ones as they are, managed ones from
        `local` (customer managed, by ARN) or read (AWS managed); and the account's `roles`."""
        policies: list[PolicyDoc] = [
            PolicyDoc(f"inline policy {p['PolicyName']!r}", p.get("PolicyDocument"))
            for p in user.get("UserPolicyList", [])
        ]
        policies += self._managed(user.get("AttachedManagedPolicies", []), "attached policy", local)
        for group in groups:
            name = group["GroupName"]
            policies += [
                PolicyDoc(f"group {name!r}'s inline policy {p['PolicyName']!r}", p.get("PolicyDocument"))
                for p in group.get("GroupPolicyList", [])
            ]
            policies += self._managed(group.get("AttachedManagedPolicies", []), f"group {name!r}'s policy", local)
        boundary = (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        return Grants(user.get("Path", "/"), boundary, tuple(policies), roles)

    def _managed(self, attached: list[dict[str, str]], what: str, local: dict[str, Any]) -> list[PolicyDoc]:
        docs = []
        for policy in attached:
            arn = policy["PolicyArn"]
            name = aws_managed_name(arn)
            source = f"{what} {name or arn}"
            if name in PRIVILEGED_AWS_MANAGED:
                docs.append(PolicyDoc(source, None, known=f"is {name}, an AWS managed policy that administers IAM"))
            elif name is not None:
                docs.append(PolicyDoc(source, self._aws_managed.document(self._client, arn)))
            elif arn in local:
                docs.append(PolicyDoc(source, local[arn]))
            else:
                docs.append(PolicyDoc(source, self._policy_document(arn)))
        return docs

    def _policy_document(self, arn: str) -> Any:
        """A managed policy's default version: 2 calls."""
        with aws_call("iam:GetPolicy"):
            version = self._client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        with aws_call("iam:GetPolicyVersion"):
            return self._client.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]

    def _read_grants(self, user: dict[str, Any]) -> Grants:
        """One user's policies, its groups', and the account's roles and customer managed
        policies (GetAccountAuthorizationDetails for Role and LocalManagedPolicy: ⌈(roles +
        customer managed policies)/1000⌉ calls)."""
        details = self._details(["Role", "LocalManagedPolicy"])
        local = self._local(details["Policies"])
        roles = self._roles(details["RoleDetailList"], local)
        name = user["UserName"]
        user["UserPolicyList"] = [
            {"PolicyName": policy, "PolicyDocument": self._user_policy(name, policy)}
            for policy in every_item(
                self._client, "list_user_policies", "PolicyNames", "iam:ListUserPolicies", UserName=name
            )
        ]
        user["AttachedManagedPolicies"] = every_item(
            self._client,
            "list_attached_user_policies",
            "AttachedPolicies",
            "iam:ListAttachedUserPolicies",
            UserName=name,
        )
        groups = []
        for group in every_item(self._client, "list_groups_for_user", "Groups", "iam:ListGroupsForUser", UserName=name):
            group_name = group["GroupName"]
            groups.append(
                {
                    "GroupName": group_name,
                    "GroupPolicyList": [
                        {"PolicyName": policy, "PolicyDocument": self._group_policy(group_name, policy)}
                        for policy in every_item(
                            self._client,
                            "list_group_policies",
                            "PolicyNames",
                            "iam:ListGroupPolicies",
                            GroupName=group_name,
                        )
                    ],
                    "AttachedManagedPolicies": every_item(
                        self._client,
                        "list_attached_group_policies",
                        "AttachedPolicies",
                        "iam:ListAttachedGroupPolicies",
                        GroupName=group_name,
                    ),
                }
            )
        return self._grants(user, groups, local, roles)

    def _user_policy(self, user: str, policy: str) -> Any:
        with aws_call("iam:GetUserPolicy"):
            return self._client.get_user_policy(UserName=user, PolicyName=policy)["PolicyDocument"]

    def _group_policy(self, group: str, policy: str) -> Any:
        with aws_call("iam:GetGroupPolicy"):
            return self._client.get_group_policy(GroupName=group, PolicyName=policy)["PolicyDocument"]

    def get_user(self, name: str, *, with_grants: bool = False) -> IamUser:
        """The user and its tags: 1 call. `with_grants`: its policies, path and boundary too, as
        the worker re-reads them before acting: ListUserPolicies, ListAttachedUserPolicies,
        ListGroupsForUser, and GetAccountAuthorizationDetails for the account's roles and customer
        managed policies (4 calls for a user with no policy of its own and no group, in an account
        of fewer than 1,000 roles and policies), plus a call per inline policy and 2 per group."""
        with aws_call("iam:GetUser"):
            user = dict(self._client.get_user(UserName=name)["User"])
        return self._user(user, self._read_grants(user) if with_grants else None)


class IamAdapter(IamDirectory):
    """IAM in one member account: its users (IamDirectory), and their access keys."""

    def __init__(
        self,
        client: Any,
        sleep: Callable[[float], None] = time.sleep,
        aws_managed: AwsManagedPolicies = AWS_MANAGED,
    ) -> None:
        super().__init__(client, aws_managed)
        self._sleep = sleep

    def start_credential_report(self) -> Callable[[], dict[str, list[ReportKey]]]:
        """Ask IAM for a fresh credential report (1 call; IAM keeps one for 4 hours and answers at
        once) and return what fetches it, so that the caller's own work (paging the account's
        users) is time the report does not cost: one GenerateCredentialReport and, when IAM has
        it ready by then, one GetCredentialReport."""
        with aws_call("iam:GenerateCredentialReport"):
            self._client.generate_credential_report()
        return self._fetch_report

    def credential_report(self) -> dict[str, list[ReportKey]]:
        """Keys per user ARN from a credential report at most 4 hours old (generated if needed)."""
        return self.start_credential_report()()

    def _fetch_report(self, attempts: int = 20, delay: float = 0.5) -> dict[str, list[ReportKey]]:
        """GetCredentialReport, waiting (through `sleep`: 0.5, 1, 2, 4 s, then every 5 s) while IAM
        is still generating it, and asking again for one that expired meanwhile."""
        for attempt in range(attempts):
            with aws_call("iam:GetCredentialReport"):
                try:
                    content = self._client.get_credential_report()["Content"]
                    return parse_credential_report(content.decode() if isinstance(content, bytes) else content)
                except ClientError as exc:
                    if error_code(exc) not in _REPORT_NOT_READY or attempt == attempts - 1:
                        raise
                    expired = error_code(exc) == "ReportExpired"
            if expired:
                with aws_call("iam:GenerateCredentialReport"):
                    self._client.generate_credential_report()
            self._sleep(min(delay * (2**attempt), 5.0))
        raise errors.Unavailable("iam:GetCredentialReport: no report")  # attempts < 1

    def access_keys(self, name: str, *, with_last_use: bool = True) -> list[AccessKey]:
        """The user's keys, with their last use unless not `with_last_use` (see `last_use`): 1 call."""
        with aws_call("iam:ListAccessKeys"):
            metadata = self._client.list_access_keys(UserName=name)["AccessKeyMetadata"]
        keys = [AccessKey(m["AccessKeyId"], KeyStatus(m["Status"]), _utc(m["CreateDate"])) for m in metadata]
        return self.last_use(keys) if with_last_use else keys

    def last_use(self, keys: list[AccessKey]) -> list[AccessKey]:
        """`keys` with when each was last used: one call per key (at most 2)."""
        found = []
        for key in keys:
            with aws_call("iam:GetAccessKeyLastUsed"):
                last = self._client.get_access_key_last_used(AccessKeyId=key.key_id).get("AccessKeyLastUsed", {})
            use = None
            if last.get("LastUsedDate"):
                use = KeyUse(_utc(last["LastUsedDate"]), last.get("ServiceName"), last.get("Region"))
            found.append(replace(key, last_used=use))
        return found

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
