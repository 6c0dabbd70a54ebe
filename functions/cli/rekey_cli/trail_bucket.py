"""A CloudTrail trail's log files in S3 (an organization trail's bucket, or an account's): the
events access keys signed, for `rekey advise` (rekey.domain.advice). Read-only.

CloudTrail delivers gzipped JSON (`{"Records": [...]}`) under
`[prefix/]AWSLogs/[<organization id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/` about every 5
minutes per account and region: reading them is a ListObjectsV2 per account, region and day and
a GetObject per file — fine for a small organization or a short window, too much for a large one
(where Athena or CloudTrail Lake over the same bucket is the way: not built). The files are read
with the operator's own credentials, not a spoke role (the bucket is usually in a log archive
account)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from rekey.domain import errors
from rekey.domain.advice import Activity, access_key_of

# Whoever runs `rekey advise --trail-bucket` (no hub or spoke role is granted them): the CLI's
# only, so not in the Lambda package.
PERMISSIONS = {"operator_trail": ("s3:ListBucket", "s3:GetObject")}
MAX_FILES = 5000  # per account and run: beyond it the evidence is said to be incomplete
_BY_CODE = {"AccessDenied": errors.AccessDenied, "NoSuchBucket": errors.NotFound, "NoSuchKey": errors.NotFound}


@contextmanager
def _s3(what: str) -> Iterator[None]:
    """S3's errors as rekey's, by error code, naming the call and the code only."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise _BY_CODE.get(code, errors.Unavailable)(f"{what}: {code}") from None
    except BotoCoreError as exc:
        raise errors.Unavailable(f"{what}: {type(exc).__name__}") from None


class TrailBucket:
    def __init__(self, client: Any, bucket: str, prefix: str = "", max_files: int = MAX_FILES) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._max_files = max_files
        self._orgs: list[str] | None = None
        self.name = f"s3://{bucket}/{self._prefix}"

    def events(
        self, account_id: str, key_ids: Iterable[str], regions: Iterable[str] | None, since: datetime, until: datetime
    ) -> Activity:
        """The records signed by `key_ids` in the account's log files of `since`..`until`, in every
        region the trail has for the account (`regions` is for sources that must be told)."""
        wanted = set(key_ids)
        found = Activity({key: [] for key in wanted})
        files = 0
        for base in self._bases(account_id):
            for region in self._children(base):
                day = since.date()
                while day <= until.date():
                    for key in self._keys(f"{base}{region}/{day:%Y/%m/%d}/", found):
                        files += 1
                        if files > self._max_files:
                            found.complete = False
                            return found
                        for record in self._records(key, found):
                            signer = access_key_of(record)
                            if signer in wanted:
                                found.records[signer].append(record)
                    day += timedelta(days=1)
        return found

    def _bases(self, account_id: str) -> list[str]:
        """Where the account's logs may be: an account trail's folder, and each organization's."""
        if self._orgs is None:
            self._orgs = [p for p in self._children(f"{self._prefix}AWSLogs/") if p.startswith("o-")]
        return [f"{self._prefix}AWSLogs/{account_id}/CloudTrail/"] + [
            f"{self._prefix}AWSLogs/{org}/{account_id}/CloudTrail/" for org in self._orgs
        ]

    def _children(self, prefix: str) -> list[str]:
        """The folder names right under `prefix`."""
        names = []
        for page in self._pages(prefix, delimiter="/"):
            names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return names

    def _keys(self, prefix: str, found: Activity) -> list[str]:
        return [o["Key"] for page in self._pages(prefix, found=found) for o in page.get("Contents", [])]

    def _pages(
        self, prefix: str, *, delimiter: str | None = None, found: Activity | None = None
    ) -> list[dict[str, Any]]:
        pages, token = [], None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            if delimiter:
                extra["Delimiter"] = delimiter
            with _s3("s3:ListObjectsV2"):
                page = self._client.list_objects_v2(Bucket=self._bucket, Prefix=prefix, **extra)
            if found is not None:
                found.calls += 1
            pages.append(page)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return pages

    def _records(self, key: str, found: Activity) -> list[dict[str, Any]]:
        with _s3("s3:GetObject"):
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        found.calls += 1
        try:
            document = json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
        except (OSError, ValueError):
            return []  # not a log file (CloudTrail's digest files live elsewhere)
        records = document.get("Records") if isinstance(document, dict) else None
        return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
