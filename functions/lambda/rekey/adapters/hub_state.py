"""The hub's state table (DynamoDB, REKEY_STATE_TABLE; hub/template.yaml `StateTable`): the
breaker's halt, each day's tally, each rollout wave's record (rekey.domain.rollout). One item
each, keyed by `key`: `breaker`, `day#YYYY-MM-DD` (expires after 30 days), `wave#N`. Counters
and sets are updated atomically (ADD), the halt with a condition, so concurrent workers agree
on who halted."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..domain.rollout import DayTally, Halt, HubStatus, WaveRecord
from .errors import aws_call, error_code

BREAKER = "breaker"
DAY_KEPT = timedelta(days=30)
# DynamoDB's BatchGetItem reads at most 100 keys a call: the breaker's and the waves'.
MAX_WAVES = 99

PERMISSIONS = {
    "hub_state": ["dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"],
}


class HubStateTable:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def status(self, waves: int = 0) -> HubStatus:
        """The halt and the records of the first `waves` waves (0: none, one wave needs none),
        in one consistent read."""
        keys = [_key(BREAKER), *(_key(f"wave#{n}") for n in range(min(waves, MAX_WAVES)))]
        with aws_call("dynamodb:BatchGetItem breaker and waves"):
            found = self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}})[
                "Responses"
            ].get(self._table, [])
        halt, waves = None, {}
        for item in found:
            name = item["key"]["S"]
            if name == BREAKER:
                halt = _halt(item) if item.get("halted", {}).get("BOOL") else None
                continue
            breakage = item.get("last_breakage", {}).get("S")
            waves[int(name.partition("#")[2])] = WaveRecord(
                item["fingerprint"]["S"],
                date.fromisoformat(item["since"]["S"]),
                date.fromisoformat(breakage) if breakage else None,
            )
        return HubStatus(halt, waves)

    def attempted(self, day: date) -> DayTally:
        return self._update_day(day, "ADD attempted :one", {":one": {"N": "1"}})

    def broke(self, day: date, sign: str, wave: int | None) -> DayTally:
        tally = self._update_day(day, "ADD signs :sign", {":sign": {"SS": [sign]}})
        if wave is not None:
            with aws_call(f"dynamodb:UpdateItem wave#{wave}"):
                try:
                    self._client.update_item(
                        TableName=self._table,
                        Key=_key(f"wave#{wave}"),
                        UpdateExpression="SET last_breakage = :day",
                        ConditionExpression="attribute_exists(fingerprint)",
                        ExpressionAttributeValues={":day": {"S": day.isoformat()}},
                    )
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
        return tally

    def halt_now(self, halt: Halt) -> bool:
        with aws_call("dynamodb:PutItem breaker"):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **_key(BREAKER),
                        "halted": {"BOOL": True},
                        "since": {"S": halt.since.isoformat()},
                        "evidence": {"L": [{"S": e} for e in halt.evidence]},
                    },
                    ConditionExpression="attribute_not_exists(halted) OR halted = :false",
                    ExpressionAttributeValues={":false": {"BOOL": False}},
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def resume(self) -> Halt | None:
        with aws_call("dynamodb:UpdateItem breaker"):
            try:
                old = self._client.update_item(
                    TableName=self._table,
                    Key=_key(BREAKER),
                    UpdateExpression="SET halted = :false",
                    ConditionExpression="halted = :true",
                    ExpressionAttributeValues={":false": {"BOOL": False}, ":true": {"BOOL": True}},
                    ReturnValues="ALL_OLD",
                )["Attributes"]
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return None
                raise
        return _halt(old)

    def set_waves(self, records: dict[int, WaveRecord]) -> None:
        for number, record in records.items():
            with aws_call(f"dynamodb:PutItem wave#{number}"):
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **_key(f"wave#{number}"),
                        "fingerprint": {"S": record.fingerprint},
                        "since": {"S": record.since.isoformat()},
                    },
                )

    def _update_day(self, day: date, expression: str, values: dict[str, Any]) -> DayTally:
        expires = int(datetime.combine(day + DAY_KEPT, time()).timestamp())
        with aws_call(f"dynamodb:UpdateItem day#{day}"):
            item = self._client.update_item(
                TableName=self._table,
                Key=_key(f"day#{day.isoformat()}"),
                UpdateExpression=f"{expression} SET expires = :expires",
                ExpressionAttributeValues={**values, ":expires": {"N": str(expires)}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        return DayTally(
            day, int(item.get("attempted", {}).get("N", "0")), frozenset(item.get("signs", {}).get("SS", []))
        )


def _halt(item: dict[str, Any]) -> Halt:
    return Halt(
        datetime.fromisoformat(item["since"]["S"]), tuple(e["S"] for e in item.get("evidence", {}).get("L", []))
    )


def _key(value: str) -> dict[str, Any]:
    return {"key": {"S": value}}
