"""CloudTrail's event history (LookupEvents) in one member account: the events an access key
signed, for the advisor (rekey.domain.advice). Read-only.

LookupEvents answers 2 calls a second per account and region (CloudTrail's quota), 50 events a
page, management events of the last 90 days only (no data events: an S3 GetObject is not there).
It is regional: a key's events are where it called (global services' in us-east-1). Each
region's client is paced at that rate (rekey.adapters.pace, through the runtime's wait)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ..domain.advice import Activity
from .errors import aws_call

# The reader's (the scan's and the operators' `rekey advise`): LookupEvents has no resource to
# narrow it to (IAM's authorization reference lists none).
PERMISSIONS = {"spoke_advise": ("cloudtrail:LookupEvents",)}
LOOKUP_EVENTS_PER_SECOND = 2.0
PAGE_SIZE = 50  # LookupEvents' MaxResults at most
WINDOW_DAYS = 90  # what the event history keeps


class EventHistory:
    """LookupEvents by access key id in a member account (`client_in(account_id, region)`: the
    reader's client there, paced), in each region asked, at most `max_pages` pages a key and
    region (the newest events first: a busy key's older ones are left, and `complete` says so)."""

    name = "cloudtrail:LookupEvents"

    def __init__(self, client_in: Callable[[str, str], Any], max_pages: int = 2) -> None:
        self._client_in = client_in
        self._max_pages = max_pages

    def events(
        self,
        account_id: str,
        key_ids: Iterable[str],
        regions: Iterable[str] | None,
        since: datetime,
        until: datetime,
    ) -> Activity:
        found = Activity()
        regions = list(dict.fromkeys(regions or ()))
        for key_id in key_ids:
            records = found.records.setdefault(key_id, [])
            for region in regions:
                client, token = self._client_in(account_id, region), None
                for _ in range(self._max_pages):
                    extra = {"NextToken": token} if token else {}
                    with aws_call(f"cloudtrail:LookupEvents {region}"):
                        page = client.lookup_events(
                            LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
                            StartTime=since,
                            EndTime=until,
                            MaxResults=PAGE_SIZE,
                            **extra,
                        )
                    found.calls += 1
                    records += _records(page.get("Events", []))
                    token = page.get("NextToken")
                    if not token:
                        break
                else:
                    found.complete = found.complete and not token
        return found


def _records(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The full records LookupEvents carries as JSON text (`CloudTrailEvent`)."""
    out = []
    for event in events:
        try:
            record = json.loads(event.get("CloudTrailEvent") or "")
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out
