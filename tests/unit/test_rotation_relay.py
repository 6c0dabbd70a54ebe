"""The rotation relay's code, exactly as spoke_templates/spoke-role.yaml deploys it (its inline
ZipFile), run against a recording HTTP session: what it sends the hub, how it signs it, when it
retries, what it raises and logs. No network."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from rekey_dev.rotation import load_relay, relay_code

HUB_URL = "https://abcdefghij0123456789.lambda-url.eu-west-1.on.aws/"
CREDENTIALS = ReadOnlyCredentials("ASIARELAYEXAMPLE", "relay-secret-half", "relay-session-token")
EVENT = {
    "Step": "createSecret",
    "SecretId": "arn:aws:secretsmanager:eu-west-1:222222222222:secret:rekey/svc-AbCdEf",
    "ClientRequestToken": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
}


class Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self.content = body if isinstance(body, bytes) else json.dumps(body).encode()


class Hub:
    """Stands in for botocore's URLLib3Session: records each prepared request, answers in turn."""

    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)
        self.requests: list[Any] = []
        self.timeouts: list[float] = []

    def __call__(self, timeout: float) -> Hub:  # URLLib3Session(timeout=...)
        self.timeouts.append(timeout)
        return self

    def send(self, request: Any) -> Response:
        self.requests.append(request)
        return self.answers.pop(0)


class Context:
    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Clock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def relay(hub: Hub, url: str = HUB_URL, region: str = "us-east-1") -> Any:
    module = load_relay({"REKEY_ROTATION_URL": url, "AWS_REGION": region}, lambda: CREDENTIALS)
    module.URLLib3Session = hub
    module.time = Clock()
    return module


def test_the_relay_is_small_and_uses_only_what_the_lambda_runtime_ships() -> None:
    code = relay_code()
    assert len(code) < 4096  # CloudFormation's limit for an inline ZipFile
    imports = {line.split()[1].split(".")[0] for line in code.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"json", "os", "time", "urllib", "boto3", "botocore"}


def test_it_posts_exactly_the_step_signed_as_its_role_for_lambda_in_the_urls_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub = Hub(Response(200, {"step": "createSecret", "status": "done", "detail": ""}))
    module = relay(hub)
    assert module.handler({**EVENT, "Extra": "never forwarded"}, Context()) is None
    (request,) = hub.requests
    assert request.method == "POST" and request.url == HUB_URL
    assert json.loads(request.body) == EVENT
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-amz-security-token"] == CREDENTIALS.token
    day = headers["x-amz-date"][:8]
    assert headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={CREDENTIALS.access_key}/{day}/eu-west-1/lambda/aws4_request, "
    )
    # The signature is SigV4's over the method, URL, headers and this very body.
    names = headers["authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert names == ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    signed = {name: headers[name] for name in names if name != "host"}
    check = AWSRequest("POST", HUB_URL, data=request.body, headers=signed)
    check.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(CREDENTIALS, "lambda", "eu-west-1")
    expected = signer.signature(signer.string_to_sign(check, signer.canonical_request(check)), check)
    assert headers["authorization"].endswith(f"Signature={expected}")
    assert datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) <= datetime.now(UTC)
    assert hub.timeouts == [module.HUB_SECONDS] and module.HUB_SECONDS > 120  # the hub's timeout
    # One log line: the step, the secret, the hub's status.
    assert capsys.readouterr().out.splitlines() == [
        json.dumps({"step": "createSecret", "secret_id": EVENT["SecretId"], "status": 200})
    ]


def test_a_url_that_names_no_region_is_signed_for_the_functions_own() -> None:
    hub = Hub(Response(200, {}))
    relay(hub, url="http://127.0.0.1:8080/", region="ap-southeast-2").handler(EVENT, Context())
    assert "/ap-southeast-2/lambda/aws4_request" in hub.requests[0].headers["Authorization"]


@pytest.mark.parametrize("status", [429, 502, 503])
def test_throttling_and_unavailability_are_retried_with_backoff_each_signed_afresh(
    status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = Hub(
        Response(status, {"message": "Rate Exceeded."}), Response(status, b"<html>busy</html>"), Response(200, {})
    )
    module = relay(hub)
    module.handler(EVENT, Context())
    assert len(hub.requests) == 3 and module.time.slept == [2, 4]
    assert all(json.loads(r.body) == EVENT for r in hub.requests)
    assert capsys.readouterr().out.splitlines() == [
        json.dumps({"step": "createSecret", "secret_id": EVENT["SecretId"], "status": 200})
    ]


def test_a_refusal_is_raised_at_once_with_the_step_and_the_hubs_message_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub = Hub(Response(409, {"error": "refused", "message": "testSecret: the new key\ndoes not sign yet"}))
    module = relay(hub)
    with pytest.raises(module.StepFailed) as failed:
        module.handler({**EVENT, "Step": "testSecret"}, Context())
    assert str(failed.value) == (
        f"testSecret of {EVENT['SecretId']}: the hub answered 409: testSecret: the new key does not sign yet"
    )
    assert len(hub.requests) == 1 and module.time.slept == []
    logged = capsys.readouterr()
    assert logged.out.splitlines() == [
        json.dumps({"step": "testSecret", "secret_id": EVENT["SecretId"], "status": 409})
    ]
    assert logged.err == ""


def test_awss_own_refusal_names_its_message() -> None:
    module = relay(Hub(Response(403, {"Message": "Forbidden"})))
    with pytest.raises(module.StepFailed, match=r"createSecret of .*: the hub answered 403: Forbidden$"):
        module.handler(EVENT, Context())


def test_it_gives_up_after_four_attempts_or_when_no_time_is_left_for_another() -> None:
    busy = [Response(503, {"message": "busy"}) for _ in range(5)]
    module = relay(Hub(*busy))
    with pytest.raises(module.StepFailed, match=r"the hub answered 503: busy$"):
        module.handler(EVENT, Context())
    assert module.time.slept == [2, 4, 8]
    # 2 s of backoff and the hub's longest answer no longer fit in what Lambda leaves it.
    hub = Hub(*busy)
    module = relay(hub)
    with pytest.raises(module.StepFailed):
        module.handler(EVENT, Context(remaining_ms=(module.HUB_SECONDS + 1) * 1000))
    assert len(hub.requests) == 1 and module.time.slept == []


def test_no_answer_at_all_is_retried_then_raised_without_detail() -> None:
    from botocore.exceptions import EndpointConnectionError

    class Unreachable(Hub):
        def send(self, request: Any) -> Response:
            self.requests.append(request)
            raise EndpointConnectionError(endpoint_url=HUB_URL)

    hub = Unreachable()
    module = relay(hub)
    with pytest.raises(module.StepFailed, match=r"the hub answered None: EndpointConnectionError$"):
        module.handler(EVENT, Context())
    assert len(hub.requests) == 4


def test_a_step_the_hub_did_and_failed_is_not_retried() -> None:
    """500 is rekey's answer for a step it carried out and that failed (announced once):
    Secrets Manager retries the rotation, the relay does not repeat the step."""
    hub = Hub(Response(500, {"error": "failed", "message": "testSecret failed"}), Response(200, {}))
    module = relay(hub)
    with pytest.raises(module.StepFailed, match=r"the hub answered 500: testSecret failed$"):
        module.handler(EVENT, Context())
    assert len(hub.requests) == 1 and module.time.slept == []
