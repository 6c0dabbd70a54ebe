"""Every wait of a runtime goes through its `sleep` (rekey.ports.Ports.sleep; None: time.sleep):
the credential report's, the member accounts' pace. Tests and the bench give a no-op or a
virtual sleep, and must never wait for real behind its back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from rekey.runtime import Runtime
from rekey.settings import Settings
from tests.unit.test_sessions import ACCOUNT, ENV


class ReportNotReady:
    """IAM (and STS) as the credential report's wait sees them: generation STARTED, then
    GetCredentialReport answers ReportInProgress `pending` times before the report."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.generated = 0

    def generate_credential_report(self) -> dict[str, str]:
        self.generated += 1
        return {"State": "STARTED"}

    def get_credential_report(self) -> dict[str, bytes]:
        self.pending -= 1
        if self.pending >= 0:
            error = {"Error": {"Code": "ReportInProgress"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
            raise ClientError(error, "GetCredentialReport")
        return {"Content": b"user,arn"}

    def assume_role(self, **_: Any) -> dict[str, Any]:
        expires = datetime.now(UTC) + timedelta(hours=1)
        return {"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expires}}


def test_the_credential_reports_wait_goes_through_the_runtimes_sleep() -> None:
    iam = ReportNotReady(pending=2)
    rt = Runtime.build(Settings.from_env(ENV), lambda _service, **_: iam)
    slept: list[float] = []
    rt.sleep = slept.append  # as the tests set it: after the runtime is built
    assert rt.account(ACCOUNT).iam.credential_report() == {}
    assert slept == [0.5, 1.0]
    assert iam.generated == 1  # asked to generate once: the waits ask only for the report
    # A runtime over the same clients (a test's later clock): its sleep, for adapters cached before too.
    later = Runtime(rt.settings, rt.clients, sleep=lambda seconds: slept.append(-seconds))
    iam.pending = 1
    assert later.account(ACCOUNT).iam.credential_report() == {}
    assert slept == [0.5, 1.0, -0.5]


def test_the_pace_waits_through_the_runtimes_sleep() -> None:
    rt = Runtime.build(Settings.from_env({**ENV, "REKEY_MEMBER_CALLS_PER_SECOND": "4"}), lambda *_, **__: None)
    slept: list[float] = []
    rt.sleep = slept.append
    for _ in range(3):
        rt.clients.pace.wait((ACCOUNT, "iam"))
    # The second and third calls wait for their slots, 1/4 s apart; a no-op sleep makes it no wait.
    assert len(slept) == 2 and 0.2 < slept[0] <= 0.25 and 0.45 < slept[1] <= 0.5, slept
