"""THE BASELINE, not rekey: a naive per-user scan, written the way a straightforward script (or
AWS's reference sample) finds due keys. In every account: ListUsers (pages of 1,000), then for
every user ListUserTags and ListAccessKeys, and GetAccessKeyLastUsed for every key. It only
finds due keys; the benchmark compares what finding them costs."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .emulated import REGION, TAG_KEY

ROTATE_AFTER_DAYS = 90
KEY_OPERATIONS = ("ListAccessKeys", "GetAccessKeyLastUsed")


@dataclass
class AccountScan:
    account_id: str
    listed: int = 0
    users: int = 0  # read one by one
    tagged: int = 0
    due: list[tuple[str, str]] = field(default_factory=list)  # (user, key id)
    calls_on_untagged_keys: int = 0  # calls a tag-first variant would not make
    error: str | None = None


def naive_scan(
    make_client: Callable[..., Any],
    accounts: list[str],
    role_name: str,
    *,
    concurrency: int,
    user_stride: int = 1,
    now: datetime | None = None,
) -> list[AccountScan]:
    """Scan every account (the same bounded thread pool as rekey's CLI sweep). With
    `user_stride` k, every user is listed but only about one in k is read, chosen by a hash of
    its name (a sample, to save time in very large accounts: the per-user calls are the same for
    every user)."""
    now = now or datetime.now(UTC)
    lock = threading.Lock()

    def client(service: str, **kwargs: Any) -> Any:
        with lock:  # creating clients is not thread-safe
            return make_client(service, region_name=REGION, **kwargs)

    sts = client("sts")

    def one(account_id: str) -> AccountScan:
        scan = AccountScan(account_id)
        try:
            creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName="naive")[
                "Credentials"
            ]
            iam = client(
                "iam",
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            kwargs: dict[str, Any] = {"MaxItems": 1000}
            while True:
                page = iam.list_users(**kwargs)
                for user in page["Users"]:
                    if zlib.crc32(user["UserName"].encode()) % user_stride == 0:
                        _scan_user(iam, user["UserName"], scan, now)
                    scan.listed += 1
                if not page.get("IsTruncated"):
                    break
                kwargs["Marker"] = page["Marker"]
        except Exception as exc:  # a baseline: record and go on
            scan.error = f"{type(exc).__name__}: {exc}"
        return scan

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, accounts))


def _scan_user(iam: Any, name: str, scan: AccountScan, now: datetime) -> None:
    scan.users += 1
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
    tagged = tags.get(TAG_KEY, "").lower() == "true"
    scan.tagged += tagged
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    calls = 1
    for key in keys:
        iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
        calls += 1
        created = key["CreateDate"]
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        if tagged and key["Status"] == "Active" and (now - created).days >= ROTATE_AFTER_DAYS:
            scan.due.append((name, key["AccessKeyId"]))
    if not tagged:
        scan.calls_on_untagged_keys += calls
