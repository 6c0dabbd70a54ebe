"""The advisor's Security Hub finding: one per advised key, informational, its own generator (not
the rotation finding of rekey.domain.findings, whose archiving never touches it). Re-imported each
time the advisor runs (REKEY_ADVISOR), so it says the latest advice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .advice import Advice
from .findings import DESCRIPTION_LIMIT, TITLE_LIMIT, asff_head

GENERATOR_ID = "rekey-key-advice"
TYPES = ["Software and Configuration Checks/AWS Security Best Practices"]


def advice_finding_id(user_arn: str, key_id: str) -> str:
    return f"{GENERATOR_ID}/{user_arn}/{key_id}"


def advice_asff(
    advice: Advice,
    *,
    user_arn: str,
    user_name: str,
    key_id: str,
    key_created: datetime,
    account_id: str,
    region: str,
    partition: str,
    now: datetime,
) -> dict[str, Any]:
    """One key's advice in the AWS Security Finding Format (severity INFORMATIONAL)."""
    says = f"{advice.recommendation.value} ({advice.confidence.value})"
    evidence = "; ".join(f.evidence for f in advice.fired) or "none"
    finding_id = advice_finding_id(user_arn, key_id)
    return {
        **asff_head(finding_id, GENERATOR_ID, TYPES, "INFORMATIONAL", account_id, region, partition, now),
        "Title": f"rekey advice: access key {key_id} of IAM user {user_name}: {says}"[:TITLE_LIMIT],
        "Description": f"{advice.why}. To do: {advice.what_to_do}. Evidence: {evidence}."[:DESCRIPTION_LIMIT],
        "Remediation": {
            "Recommendation": {
                "Text": advice.what_to_do[:512],
                "Url": "https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds-programmatic-access.html",
            }
        },
        "ProductFields": {
            "rekey/recommendation": advice.recommendation.value,
            "rekey/confidence": advice.confidence.value,
        },
        "Resources": [
            {
                "Type": "AwsIamAccessKey",
                "Id": key_id,
                "Partition": partition,
                "Region": region,
                "Details": {
                    "AwsIamAccessKey": {
                        "PrincipalName": user_name,
                        "PrincipalType": "IAMUser",
                        "Status": "Active",
                        "CreatedAt": key_created.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    }
                },
            }
        ],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
    }
