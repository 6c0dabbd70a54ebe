"""IAM Access Analyzer's unused-access findings on access keys, for the advisor
(rekey.domain.advice): the ACTIVE `UnusedIAMUserAccessKey` findings an unused-access analyzer
(an organization's, or an account's) holds on the keys being advised. Read-only.

Per account advised: ListFindingsV2 filtered on that account's ACTIVE UnusedIAMUserAccessKey
findings on IAM users, every page; then GetFindingV2 for each finding on a user being advised
(the summary names the user, the details the key: `unusedIamUserAccessKeyDetails`). Access
Analyzer is not cross-account: an analyzer is read with credentials in its own account and
region — the hub's own role (the hub in the account that holds the analyzer: the management
account, or Access Analyzer's delegated administrator) or an operator's (`rekey advise`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from ..domain import errors
from ..domain.advice import UnusedFinding, UnusedKeys
from .errors import aws_call

# The IAM actions behind ListFindingsV2 and GetFindingV2 (Access Analyzer's API reference: "both
# use access-analyzer:ListFindings" / "access-analyzer:GetFinding"), granted on the analyzer's
# ARN only: to the hub's scan role when REKEY_ADVISOR_ANALYZER_ARN is set (hub/template.yaml
# AdvisorAnalyzerPolicy), and to whoever runs `rekey advise` with an analyzer.
PERMISSIONS = {"hub_advise": ("access-analyzer:ListFindings", "access-analyzer:GetFinding")}
FINDING_TYPE = "UnusedIAMUserAccessKey"
MAX_PAGES = 100  # of ListFindingsV2 per account, and of one finding's details: a token that never ends
HINT = "the analyzer is read with the hub's own role or your credentials: it must be in that account and region"


def analyzer_region(analyzer_arn: str) -> str:
    """The region an analyzer's ARN names (its client must be there)."""
    return analyzer_arn.split(":")[3]


class UnusedKeyFindings:
    """An unused-access analyzer (`analyzer_arn`) read through `client` (Access Analyzer's, in the
    analyzer's region, with credentials in its account)."""

    def __init__(self, client: Any, analyzer_arn: str, max_pages: int = MAX_PAGES) -> None:
        self._client = client
        self._arn = analyzer_arn
        self._max_pages = max_pages
        self.name = f"Access Analyzer {analyzer_arn.rpartition('/')[2]}"

    def unused_keys(self, account_id: str, keys: Mapping[str, Collection[str]]) -> UnusedKeys:
        """The ACTIVE UnusedIAMUserAccessKey findings on `keys` (user name -> key ids) of
        `account_id`; findings on other users or keys are left. Raises a domain error (with a
        hint) when the analyzer cannot be read."""
        found = UnusedKeys()
        token = None
        for _ in range(self._max_pages):
            page = self._list(account_id, token)
            found.calls += 1
            for summary in page.get("findings", []):
                user = _user_name(summary.get("resource"))
                if _is_active_key_finding(summary, account_id) and user in keys:
                    self._read(str(summary["id"]), user, set(keys[user]), found)
            token = page.get("nextToken")
            if not token:
                return found
        found.complete = False
        return found

    def _list(self, account_id: str, token: str | None) -> dict[str, Any]:
        extra = {"nextToken": token} if token else {}
        try:
            with aws_call(f"access-analyzer:ListFindingsV2 {self._arn}"):
                return self._client.list_findings_v2(
                    analyzerArn=self._arn,
                    filter={
                        "findingType": {"eq": [FINDING_TYPE]},
                        "resourceType": {"eq": ["AWS::IAM::User"]},
                        "resourceOwnerAccount": {"eq": [account_id]},
                        "status": {"eq": ["ACTIVE"]},
                    },
                    **extra,
                )
        except (errors.Throttled, errors.Unavailable):
            raise
        except errors.RekeyError as exc:  # denied, not found, or an ARN it does not take (ValidationException)
            raise type(exc)(f"{exc} ({HINT})") from None

    def _read(self, finding_id: str, user: str, key_ids: set[str], found: UnusedKeys) -> None:
        """The finding's key, if it is one of `key_ids` and the finding is still ACTIVE."""
        token = None
        for _ in range(self._max_pages):
            extra = {"nextToken": token} if token else {}
            try:
                with aws_call(f"access-analyzer:GetFindingV2 {finding_id}"):
                    finding = self._client.get_finding_v2(analyzerArn=self._arn, id=finding_id, **extra)
            except errors.NotFound:
                return  # resolved or archived since it was listed
            found.calls += 1
            if finding.get("status") != "ACTIVE" or _user_name(finding.get("resource")) != user:
                return
            for detail in finding.get("findingDetails", []):
                unused = detail.get("unusedIamUserAccessKeyDetails") or {}
                key_id = unused.get("accessKeyId")
                if key_id in key_ids:
                    accessed = unused.get("lastAccessed")
                    found.findings[key_id] = UnusedFinding(
                        finding_id, accessed if isinstance(accessed, datetime) else None
                    )
            token = finding.get("nextToken")
            if not token:
                return


def _is_active_key_finding(summary: Mapping[str, Any], account_id: str) -> bool:
    """A summary of what was asked for (the filter's work, checked again: a finding of another
    type, status or account is never read as this one)."""
    return (
        summary.get("findingType") == FINDING_TYPE
        and summary.get("status") == "ACTIVE"
        and summary.get("resourceOwnerAccount") == account_id
    )


def _user_name(resource: object) -> str | None:
    """The user an IAM user's ARN names (its path left out: a name is unique in an account)."""
    if not isinstance(resource, str) or ":user/" not in resource:
        return None
    return resource.rpartition("/")[2]
