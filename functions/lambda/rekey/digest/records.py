"""The records the sweep and the scans leave on the digest queue."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ..messages import ACCOUNT_ID, _Message


class AccountRef(_Message):
    account_id: str = Field(pattern=ACCOUNT_ID)
    name: str = Field(default="", max_length=256)


class SweepStarted(_Message):
    """Recorded by the sweep: the accounts it queued a scan for."""

    schema_version: Literal[1] = 1
    record: Literal["sweep-started"] = "sweep-started"
    sweep_id: str = Field(min_length=1, max_length=64)
    at: datetime
    accounts: list[AccountRef]


class AccountScanned(_Message):
    """Recorded by a scan, once per attempt: the last attempt's record is the account's state."""

    schema_version: Literal[1] = 1
    record: Literal["account-scanned"] = "account-scanned"
    sweep_id: str = Field(min_length=1, max_length=64)
    at: datetime
    account_id: str = Field(pattern=ACCOUNT_ID)
    account_name: str = Field(default="", max_length=256)
    users_in_scope: int = 0
    users_checked: int = 0
    items_queued: int = 0
    error: str | None = None
    # Tagged users rekey left alone, `name (until YYYY-MM-DD)`: listed in the digest.
    exempt: list[str] = Field(default_factory=list)
    paused: list[str] = Field(default_factory=list)
    # The advisor's counts by recommendation, on the days it ran (REKEY_ADVISOR).
    advice: dict[str, int] = Field(default_factory=dict)
