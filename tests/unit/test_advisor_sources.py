"""Where the advisor reads events: CloudTrail's event history (LookupEvents by access key, paged,
paced at its 2 calls a second per account and region under a virtual clock) and a trail's log
files in S3; and the advisor over them (rekey.use_cases.advise)."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.hooks import HierarchicalEmitter
from rekey_cli.trail_bucket import TrailBucket
from rekey_dev import trail_events as te

from rekey.adapters.cloudtrail import EventHistory
from rekey.adapters.pace import Pace
from rekey.domain import errors
from rekey.domain.advice import Recommendation, replaceable
from rekey.domain.entities import Account
from rekey.domain.models import KeyStatus
from rekey.domain.networks import pinned
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.advise import ANALYZER_NOT_READ, Advisor, advise_account, advisor_of
from tests.fakes import ACCOUNT, NOW, FakePorts
from tests.unit.test_sessions import ENV, FakeSts

KEY = "AKIAEXAMPLE000000001"


class VirtualClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


class Meta:
    def __init__(self, service: str) -> None:
        self.events = HierarchicalEmitter()
        self.service_model = type("M", (), {"service_id": type("S", (), {"hyphenize": lambda _s: service})()})()


class FakeCloudTrail:
    """LookupEvents as CloudTrail answers it: pages of 50 at most, the full record as JSON text;
    each call signs (the pace waits before signing)."""

    def __init__(self, region: str, records: list[dict[str, Any]], clock: VirtualClock | None = None) -> None:
        self.meta = Meta("cloudtrail")
        self.region = region
        self.records = records
        self.calls: list[tuple[float, dict[str, Any]]] = []
        self.clock = clock

    def lookup_events(self, **kwargs: Any) -> dict[str, Any]:
        self.meta.events.emit("before-sign.cloudtrail.LookupEvents")
        self.calls.append((self.clock.now() if self.clock else 0.0, kwargs))
        key = kwargs["LookupAttributes"][0]["AttributeValue"]
        mine = [r for r in self.records if r["userIdentity"]["accessKeyId"] == key and r["awsRegion"] == self.region]
        start = int(kwargs.get("NextToken", "0"))
        page = mine[start : start + kwargs["MaxResults"]]
        answer: dict[str, Any] = {"Events": [{"EventId": r["eventID"], "CloudTrailEvent": json.dumps(r)} for r in page]}
        if start + kwargs["MaxResults"] < len(mine):
            answer["NextToken"] = str(start + kwargs["MaxResults"])
        return answer


def workflow(days: int, region: str = "us-east-1") -> list[dict[str, Any]]:
    runs = te.github_workflow_runs(ACCOUNT, "ci", KEY, NOW - timedelta(hours=1), runs=days)
    return [{**r, "awsRegion": region} for r in runs]


def test_lookup_events_reads_each_region_by_key_and_stops_at_its_page_limit() -> None:
    clients = {"us-east-1": FakeCloudTrail("us-east-1", workflow(40)), "eu-west-1": FakeCloudTrail("eu-west-1", [])}
    history = EventHistory(lambda _account, region: clients[region], max_pages=1)
    found = history.events(ACCOUNT, [KEY], ["us-east-1", "eu-west-1", "us-east-1"], NOW - timedelta(days=90), NOW)
    assert len(found.records[KEY]) == 50 and found.calls == 2 and not found.complete
    ((_, asked),) = clients["us-east-1"].calls
    assert asked["LookupAttributes"] == [{"AttributeKey": "AccessKeyId", "AttributeValue": KEY}]
    assert asked["StartTime"] == NOW - timedelta(days=90) and asked["EndTime"] == NOW
    history = EventHistory(lambda _account, region: clients[region], max_pages=2)
    found = history.events(ACCOUNT, [KEY], ["us-east-1"], NOW - timedelta(days=90), NOW)
    assert len(found.records[KEY]) == 80 and found.complete


def test_lookup_events_is_paced_at_two_a_second_per_account_and_region_on_a_virtual_clock() -> None:
    clock = VirtualClock()
    pace = Pace(2.0, clock=clock.now, sleep=clock.sleep)
    clients = {r: FakeCloudTrail(r, workflow(30, r), clock) for r in ("us-east-1", "eu-west-1")}
    for region, client in clients.items():
        pace.install(client, f"{ACCOUNT}/{region}")
    history = EventHistory(lambda _account, region: clients[region], max_pages=3)
    history.events(ACCOUNT, [KEY, "AKIAEXAMPLE000000002"], ["us-east-1", "eu-west-1"], NOW - timedelta(days=90), NOW)
    for client in clients.values():
        times = [t for t, _ in client.calls]
        assert len(times) == 3  # 2 pages of the first key, 1 of the second
        assert all(b - a >= 0.5 for a, b in itertools.pairwise(times)), times
    # Two regions are two quotas: the 6 calls took 1.5 virtual seconds (in one region, 2.5).
    assert clock.t == 1.5


def test_the_runtime_paces_lookups_through_its_own_sleep_only_where_it_paces() -> None:
    made: list[FakeCloudTrail] = []

    def make_client(service: str, **kw: Any) -> Any:
        if service == "sts":
            return FakeSts("arn:aws:sts::111111111111:assumed-role/rekey-hub-scan/fn")
        client = (
            FakeCloudTrail(kw["region_name"], [])
            if service == "cloudtrail"
            else type("C", (), {"meta": Meta(service)})()
        )
        made.append(client)
        return client

    rt = Runtime.build(Settings.from_env({**ENV, "REKEY_MEMBER_CALLS_PER_SECOND": "8"}), make_client)
    slept: list[float] = []
    rt.sleep = slept.append
    (history,) = rt.key_activity()
    history.events(ACCOUNT, [KEY, KEY + "2", KEY + "3"], ["eu-west-1", "us-east-1"], NOW - timedelta(days=1), NOW)
    assert sorted(c.region for c in made if isinstance(c, FakeCloudTrail)) == ["eu-west-1", "us-east-1"]
    # 3 calls in each region: the 2nd and 3rd wait for their slots, 1/2 s apart (a no-op sleep
    # does not move the clock: the 3rd waits a whole second).
    assert len(slept) == 4, slept
    assert [round(s, 1) for s in sorted(slept)] == [0.5, 0.5, 1.0, 1.0], slept
    unpaced = Runtime.build(Settings.from_env(ENV), make_client)  # REKEY_MEMBER_CALLS_PER_SECOND=0
    assert unpaced.clients.lookup_pace.rate == 0 and rt.clients.lookup_pace.rate == 2.0


class FakeS3:
    def __init__(self, files: dict[str, bytes], page: int = 1000) -> None:
        self.files = files
        self.page = page
        self.calls: list[str] = []

    def list_objects_v2(self, Bucket: str, Prefix: str, Delimiter: str | None = None, ContinuationToken: str = "0"):
        self.calls.append("list")
        keys = sorted(k for k in self.files if k.startswith(Prefix))
        if Delimiter:
            folders = sorted({Prefix + k[len(Prefix) :].split("/")[0] + "/" for k in keys if "/" in k[len(Prefix) :]})
            return {"CommonPrefixes": [{"Prefix": f} for f in folders], "IsTruncated": False}
        start = int(ContinuationToken)
        chunk = keys[start : start + self.page]
        more = start + self.page < len(keys)
        answer: dict[str, Any] = {"Contents": [{"Key": k} for k in chunk], "IsTruncated": more}
        if more:
            answer["NextContinuationToken"] = str(start + self.page)
        return answer

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append("get")
        return {"Body": io.BytesIO(self.files[Key])}


def test_the_trail_bucket_finds_a_keys_records_under_an_organization_trail_in_every_region() -> None:
    records = workflow(3) + workflow(2, "eu-west-1") + te.lambda_calls(ACCOUNT, "fn", "AKIAOTHER00000000000", NOW)
    other_account = [{**r, "recipientAccountId": "444455556666"} for r in workflow(2)]
    files = dict(te.log_files(records + other_account, org_id="o-exampleorg1"))
    files["AWSLogs/o-exampleorg1/111122223333/CloudTrail-Digest/x.json.gz"] = b"not a log"
    s3 = FakeS3(files, page=1)
    found = TrailBucket(s3, "org-trail").events(ACCOUNT, [KEY], None, NOW - timedelta(days=5), NOW)
    assert len(found.records[KEY]) == 10 and found.complete
    assert {r["awsRegion"] for r in found.records[KEY]} == {"us-east-1", "eu-west-1"}
    capped = TrailBucket(s3, "org-trail", max_files=2).events(ACCOUNT, [KEY], None, NOW - timedelta(days=5), NOW)
    assert not capped.complete


def test_the_advisor_on_ports_reads_keys_then_events_and_says_what_it_could_not_read() -> None:
    ports = FakePorts()
    ports.iam.add_user("ci", tags={"rekey:rotate": "true"})
    ci_key = ports.iam.add_key("ci", NOW - timedelta(days=200))
    ports.iam.add_key("ci", NOW - timedelta(days=400), KeyStatus.INACTIVE)  # inactive: not advised
    ports.iam.add_user("idle", tags={"rekey:rotate": "true"}, key_ages=(300,))
    ports.iam.add_user("untagged", tags={}, key_ages=(300,))
    records = te.github_workflow_runs(ACCOUNT, "ci", ci_key, NOW - timedelta(hours=1), runs=4)
    s3 = FakeS3(dict(te.log_files(records)))

    class Refused:
        name = "cloudtrail:LookupEvents"

        def events(self, *_: Any) -> Any:
            raise errors.AccessDenied("cloudtrail:LookupEvents: AccessDeniedException")

    ports.activity = [Refused()]
    advisor = advisor_of(ports, pinned(), [TrailBucket(s3, "trail")])
    result = advise_account(ports, Account(ACCOUNT, "payments"), advisor)
    by_user = {k.user_name: k.advice.recommendation for k in result.keys}
    assert by_user == {"ci": Recommendation.GITHUB_OIDC, "idle": Recommendation.DELETE}
    assert result.gaps == ["cloudtrail:LookupEvents: access-denied: cloudtrail:LookupEvents: AccessDeniedException"]
    assert result.keys[0].sources == ("s3://trail/", ANALYZER_NOT_READ) and result.keys[0].profile.volume == 8
    assert (
        replaceable(result.counts()) == "1 key(s) could be replaced by roles: 1 github-oidc; 1 unused could be deleted"
    )
    # A failing account is the result's error, never an exception.
    ports.failures.fail("users_with_tag", errors.AccessDenied("sts:AssumeRole: AccessDenied"))
    assert advise_account(ports, Account(ACCOUNT, "payments"), advisor).error.startswith("access-denied")


def test_the_digest_line_says_nothing_when_nothing_can_go() -> None:
    assert replaceable({"keep": 2, "unknown": 1}) is None
    assert replaceable({}) is None


def test_advisor_settings() -> None:
    ports = FakePorts(
        {"REKEY_ADVISOR": "weekly", "REKEY_ADVISOR_REGIONS": "eu-west-1,ap-south-1", "REKEY_ADVISOR_UNUSED_DAYS": "30"}
    )
    advisor = advisor_of(ports, pinned())
    assert advisor.regions == ("eu-west-1", "ap-south-1") and advisor.unused_days == 30
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    assert ports.settings.advisor_due(monday) and not ports.settings.advisor_due(monday + timedelta(days=1))
    assert not FakePorts().settings.advisor_due(monday)
    assert FakePorts({"REKEY_ADVISOR": "daily"}).settings.advisor_due(monday + timedelta(days=1))
    assert isinstance(Advisor((), pinned()).window_days, int)


# --------------------------------------------------------------------------- the scheduled advisor


def scanned(env: dict[str, str]) -> tuple[FakePorts, Any, str]:
    from rekey.use_cases.scan import scan_account

    ports = FakePorts(env)
    (ci,) = ports.iam.add_user("ci", {"rekey:rotate": "true"}, key_ages=(30,))
    ports.iam.add_user("idle", {"rekey:rotate": "true"}, key_ages=(200,))
    ports.activity = [History(te.github_workflow_runs(ACCOUNT, "ci", ci, NOW - timedelta(hours=2), runs=3))]
    return ports, scan_account(ports, ports.org.accounts[0], "20261201T043000Z"), ci


class History:
    name = "cloudtrail:LookupEvents"

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.asked = 0

    def events(self, account_id: str, key_ids: Any, regions: Any, since: Any, until: Any) -> Any:
        from rekey.domain.advice import Activity, access_key_of

        self.asked += 1
        found = Activity({k: [] for k in key_ids})
        for r in self.records:
            if access_key_of(r) in found.records:
                found.records[access_key_of(r)].append(r)
        return found


def test_the_scan_advises_on_its_schedule_with_an_informational_finding_per_key() -> None:
    ports, result, ci = scanned({"REKEY_ADVISOR": "daily"})
    assert result.advice == {"github-oidc": 1, "delete": 1}
    advice = {f["Id"]: f for f in ports.findings.by_id.values() if f["GeneratorId"] == "rekey-key-advice"}
    finding = advice[f"rekey-key-advice/arn:aws:iam::{ACCOUNT}:user/ci/{ci}"]
    assert finding["Severity"]["Label"] == "INFORMATIONAL" and finding["RecordState"] == "ACTIVE"
    assert finding["ProductFields"]["rekey/recommendation"] == "github-oidc"
    assert "configure-aws-credentials-for-github-actions" in finding["Description"]
    assert finding["Resources"][0] == {**finding["Resources"][0], "Type": "AwsIamAccessKey", "Id": ci}
    assert len(advice) == 2
    # The rotation findings are still one per user, and the advisor's are not archived as stale.
    rotation = [f for f in ports.findings.by_id.values() if f["GeneratorId"] == "rekey-access-key-rotation"]
    assert len(rotation) == 2 and all(f["RecordState"] == "ACTIVE" for f in advice.values())


def test_the_weekly_advisor_runs_on_mondays_only_and_off_never() -> None:
    for env in ({"REKEY_ADVISOR": "weekly"}, {}):  # the fakes' day is a Tuesday
        ports, result, _ = scanned(env)
        assert result.advice == {} and ports.activity[0].asked == 0
        assert not [f for f in ports.findings.by_id.values() if f["GeneratorId"] == "rekey-key-advice"]


def test_a_failing_advisor_never_fails_the_scan() -> None:
    ports = FakePorts({"REKEY_ADVISOR": "daily"})
    ports.iam.add_user("ci", {"rekey:rotate": "true"}, key_ages=(30,))
    ports.failures.fail("access_keys", errors.Throttled("iam:ListAccessKeys: Throttling"), times=5)
    from rekey.use_cases.scan import scan_account

    result = scan_account(ports, ports.org.accounts[0], "20261201T043000Z")
    assert result.error is None and result.advice == {}


def test_the_digest_says_how_many_keys_could_be_replaced() -> None:
    from rekey.digest.builder import DigestBuilder
    from rekey.digest.records import AccountScanned

    builder = DigestBuilder()
    for account, advice in (
        ("111122223333", {"github-oidc": 7, "keep": 1}),
        ("444455556666", {"role-on-compute": 5, "delete": 3}),
    ):
        builder.add_scan(AccountScanned(sweep_id="s1", at=NOW, account_id=account, advice=advice))
    summary = builder.summary()
    assert summary.advice == {"github-oidc": 7, "keep": 1, "role-on-compute": 5, "delete": 3}
    text = builder.notification("999988887777", NOW).message
    assert (
        "Advisor: 12 key(s) could be replaced by roles: 7 github-oidc, 5 role-on-compute; "
        "3 unused could be deleted; 1 keep" in text
    )
    quiet = DigestBuilder()
    quiet.add_scan(AccountScanned(sweep_id="s1", at=NOW, account_id="111122223333"))
    assert "Advisor" not in quiet.notification("999988887777", NOW).message
