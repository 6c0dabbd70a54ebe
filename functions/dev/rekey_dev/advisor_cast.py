"""The demo's advisor scene: after the simulated days, four more tagged users in the first member
account, each key used one way — by a GitHub Actions workflow, from a Lambda function, for
CodeCommit over HTTPS, not at all — with their CloudTrail records written as an organization
trail's log files to a bucket in the hub (moto has no LookupEvents: the trail bucket is the
evidence the emulator can hold), and `rekey advise` run on the whole organization."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rekey_cli import advise_cli
from rekey_cli.advice import AdviceRun
from rekey_cli.trail_bucket import TrailBucket

from rekey.runtime import Runtime

from . import trail_events as te

TRAIL_BUCKET = "rekey-demo-org-trail"
TAG = {"Key": "rekey:rotate", "Value": "true"}


@dataclass(frozen=True)
class Scene:
    user: str
    expected: str  # what `rekey advise` should recommend
    key_age_days: int
    records: Any  # (account_id, user, key_id, last use) -> CloudTrail records


SCENES = (
    Scene("gh-deployer", "github-oidc", 60, te.github_workflow_runs),
    Scene("orders-fn", "role-on-compute", 60, te.lambda_calls),
    Scene("git-mirror", "keep", 60, te.codecommit_pushes),
    Scene("old-export", "delete", 200, None),
)


def seed(emulator: Any, org: Any, now: datetime | None = None) -> dict[str, str]:
    """Create the scene's users in the first member account, their keys' last use, and the trail's
    log files. Returns each user's key id."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    now = now or datetime.now(UTC)
    account_id = org.member_ids[0]
    iam = org.client("iam", account_id)
    records: list[dict[str, Any]] = []
    keys: dict[str, str] = {}
    for scene in SCENES:
        iam.create_user(UserName=scene.user, Tags=[TAG])
        # Only the id is kept: the secret half of this response is never stored or shown.
        key_id = iam.create_access_key(UserName=scene.user)["AccessKey"]["AccessKeyId"]
        key = iam_backends[account_id]["global"].access_keys[key_id]
        key.create_date -= timedelta(days=scene.key_age_days)
        keys[scene.user] = key_id
        if scene.records is None:
            continue
        mine = scene.records(account_id, scene.user, key_id, now - timedelta(hours=2))
        records += mine
        newest = max(mine, key=lambda r: r["eventTime"])
        when = datetime.fromisoformat(newest["eventTime"].replace("Z", "+00:00")).replace(tzinfo=None)
        key.last_used = AccessKeyLastUsed(
            timestamp=when, service=newest["eventSource"].split(".")[0], region="us-east-1"
        )
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    for object_key, body in te.log_files(records, org_id=org.organization_id):
        s3.put_object(Bucket=TRAIL_BUCKET, Key=object_key, Body=body)
    return keys


def advise(rt: Runtime) -> AdviceRun:
    """`rekey advise --trail-bucket rekey-demo-org-trail --sources bucket` on the organization."""
    args = argparse.Namespace(
        trail_bucket=TRAIL_BUCKET, sources="bucket", aws_ranges=None, github_meta=None, networks=None
    )
    return advise_cli.advise(args, rt, [TrailBucket(rt.clients.hub("s3"), TRAIL_BUCKET)])
