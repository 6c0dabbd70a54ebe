"""CloudTrail records of an access key's use, in CloudTrail's own shapes (anonymised: documentation
addresses and account ids, no request or response bodies), and the trail's log files: for the
demo (moto has no LookupEvents, so the demo's evidence is a trail bucket) and the advisor's tests.

Shapes: the CloudTrail user guide's "CloudTrail record contents" (eventVersion 1.08 fields) and
log file naming ("Finding your CloudTrail log files": `AWSLogs/[<org id>/]<account>/CloudTrail/<region>/
YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`, a gzipped
`{"Records": [...]}`); CodeCommit's GitPush example from its user guide."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

# The user agents of the uses the demo tells (each as its tool writes it).
GITHUB_ACTION = (
    "aws-sdk-js/3.637.0 ua/2.1 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.17.0 api/sts#3.637.0 m/E "
    "configure-aws-credentials-for-github-actions"
)
CLI_ON_GITHUB_RUNNER = (
    "aws-cli/2.17.50 md/awscrt#0.21.2 ua/2.0 os/linux#6.5.0-1025-azure md/arch#x86_64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off "
    "md/command#s3.sync"
)
LAMBDA_PYTHON = (
    "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.224-233.881.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.11.9 md/pyimpl#CPython exec-env/AWS_Lambda_python3.11 cfg/retry-mode#legacy "
    "Botocore/1.34.145"
)
GIT_CREDENTIAL_HELPER = "git/2.43.0"
LAPTOP_CLI = (
    "aws-cli/2.17.50 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#arm64 lang/python#3.11.9 md/pyimpl#CPython "
    "cfg/retry-mode#standard md/installer#source md/prompt#off md/command#s3.ls"
)
SERVER_SDK = (
    "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.11.2 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.145"
)
# Addresses: inside the pinned subsets of rekey.domain.networks, and a documentation address.
GITHUB_RUNNER_ADDRESS = "4.148.17.29"
LAMBDA_ADDRESS = "3.84.201.17"  # in 3.80.0.0/12 (EC2, us-east-1)
OFFICE_ADDRESS = "203.0.113.12"  # RFC 5737 TEST-NET-3


def record(
    *,
    account_id: str,
    user_name: str,
    key_id: str,
    at: datetime,
    source: str,
    action: str,
    agent: str,
    address: str,
    region: str = "us-east-1",
    read_only: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One CloudTrail record of a call signed by an IAM user's access key."""
    seed = f"{key_id}|{at.isoformat()}|{source}|{action}".encode()
    digest = hashlib.sha256(seed).hexdigest()
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDA" + digest[:17].upper(),
            "arn": f"arn:aws:iam::{account_id}:user/{user_name}",
            "accountId": account_id,
            "accessKeyId": key_id,
            "userName": user_name,
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": action,
        "awsRegion": region,
        "sourceIPAddress": address,
        "userAgent": agent,
        "requestParameters": None,
        "responseElements": None,
        "requestID": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
        "eventID": f"{digest[32:40]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-{digest[52:64]}",
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
        **(extra or {}),
    }


def github_workflow_runs(account_id: str, user_name: str, key_id: str, last: datetime, runs: int = 5) -> list[dict]:
    """A deploy workflow, daily: the official action checks the key (GetCallerIdentity), then the
    AWS CLI on the runner syncs a bucket."""
    out = []
    for n in range(runs):
        at = last - timedelta(days=n)
        common = {"account_id": account_id, "user_name": user_name, "key_id": key_id, "address": GITHUB_RUNNER_ADDRESS}
        out.append(record(**common, at=at, source="sts.amazonaws.com", action="GetCallerIdentity", agent=GITHUB_ACTION))
        out.append(
            record(
                **common,
                at=at + timedelta(seconds=40),
                source="s3.amazonaws.com",
                action="ListBuckets",
                agent=CLI_ON_GITHUB_RUNNER,
            )
        )
    return out


def lambda_calls(account_id: str, user_name: str, key_id: str, last: datetime, calls: int = 6) -> list[dict]:
    """A Lambda function (Python) that reads a queue with a user's key in its environment."""
    return [
        record(
            account_id=account_id,
            user_name=user_name,
            key_id=key_id,
            at=last - timedelta(hours=6 * n),
            source="sqs.amazonaws.com",
            action="GetQueueAttributes",
            agent=LAMBDA_PYTHON,
            address=LAMBDA_ADDRESS,
        )
        for n in range(calls)
    ]


def codecommit_pushes(account_id: str, user_name: str, key_id: str, last: datetime, pushes: int = 3) -> list[dict]:
    """Git over HTTPS to CodeCommit, signed by the AWS CLI's credential helper with the key."""
    return [
        record(
            account_id=account_id,
            user_name=user_name,
            key_id=key_id,
            at=last - timedelta(days=2 * n),
            source="codecommit.amazonaws.com",
            action="GitPush" if n % 2 == 0 else "GitPull",
            agent=GIT_CREDENTIAL_HELPER,
            address=OFFICE_ADDRESS,
            read_only=n % 2 == 1,
            extra={
                "additionalEventData": {"protocol": "HTTP", "dataTransferred": True, "repositoryName": "platform"},
                "resources": [
                    {
                        "ARN": f"arn:aws:codecommit:us-east-1:{account_id}:platform",
                        "accountId": account_id,
                        "type": "AWS::CodeCommit::Repository",
                    }
                ],
            },
        )
        for n in range(pushes)
    ]


def log_key(account_id: str, region: str, at: datetime, unique: str, org_id: str | None = None) -> str:
    """The object key CloudTrail delivers a log file under."""
    org = f"{org_id}/" if org_id else ""
    return (
        f"AWSLogs/{org}{account_id}/CloudTrail/{region}/{at:%Y/%m/%d}/"
        f"{account_id}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{unique}.json.gz"
    )


def log_files(records: Sequence[dict[str, Any]], org_id: str | None = None) -> Iterable[tuple[str, bytes]]:
    """The records as CloudTrail's log files (one per account, region and day), gzipped."""
    files: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        at = datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00"))
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        unique = hashlib.sha256(f"{r['recipientAccountId']}{r['awsRegion']}{day}".encode()).hexdigest()[:16]
        files.setdefault(log_key(r["recipientAccountId"], r["awsRegion"], day, unique, org_id), []).append(r)
    for key, recs in sorted(files.items()):
        yield key, gzip.compress(json.dumps({"Records": recs}).encode())
