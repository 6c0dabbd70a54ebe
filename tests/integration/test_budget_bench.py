"""`make bench` at a tiny size, so the benchmark cannot rot between the times someone runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_benchmark_runs_and_measures_what_it_claims(tmp_path: Path) -> None:
    out, raw = tmp_path / "results.md", tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL" and not k.startswith("REKEY_")}
    tiny = ["--sizes", "2x10", "--throttled", "2x10", "--sample", "1", "--steady", "3", "--due", "5"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", *tiny, "--out", str(out), "--raw", str(raw)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # 1 = a target missed: at 10 users per account rekey's fixed per-account calls cannot be 20x
    # fewer than a per-user scan's; anything else is a crash.
    assert done.returncode in (0, 1), done.stderr[-2000:]
    text = out.read_text()
    assert "| 2 × 10 | none |" in text and "**Throttling**" in text and "**The steady state**" in text
    assert "met: no-action sweep within ⌈U/1000⌉ + 6 IAM/STS calls per account, none per user" in text
    assert "met: the wave rotated every due key, and only those" in text
    assert "met: throttled sweep of 2 accounts misses none" in text
    assert "met: every one of 5 due users in one account rotated within the day" in text

    data = json.loads(raw.read_text())
    (size,) = data["sizes"]
    quiet, naive, worker = size["quiet_rekey"], size["naive"], size["wave_worker"]
    assert quiet["accounts_swept"] == 2 and quiet["per_user_calls"] == 0 and quiet["items"] == 0
    # The naive baseline really scanned: every user's tags and keys, and found the due key.
    assert naive["operations"]["iam:ListUserTags"] == 10 and naive["due"] == size["due_per_account"] == 2
    assert size["wave_sweep"]["items"] == worker["done"] == size["wave_users_with_two_keys"] == 2
    assert 0 < worker["seconds_in_aws_calls"] <= worker["seconds"]
    steady = data["steady"]
    # Keys 0-88.5 days old at the start: on day 3, two are past 90, rotated, and the naive scan sees them.
    assert steady["days"] == 3 and steady["tagged"] == 60 and steady["rotations"] == steady["naive_due"] == 2
    assert 0 < steady["sweep_iam_sts_per_day"] < steady["naive_iam_sts_per_day"]
    throttled = data["throttled"]["throttled"]
    assert throttled["http_attempts"] == throttled["total"] + throttled["throttled_responses"]


def test_the_benchmarks_throttle_answers_as_iam_does_and_botocore_retries() -> None:
    """The throttling the benchmark injects is what botocore sees from IAM: a retryable
    `Throttling` error, retried with backoff, failing only past the retry budget."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from bench.throttle import Throttle, on_backoff

    throttle = Throttle(rate=1000, burst=1000, share=1.0)  # every request throttled
    iam = boto3.client(
        "iam",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # never reached: the answer comes before sending
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    throttle.install(iam, "111111111111")
    backoffs: list[float] = []  # botocore's own retry decisions; its delays recorded, not slept
    on_backoff(iam, lambda _operation, delay: backoffs.append(delay))
    with pytest.raises(ClientError) as caught:
        iam.list_users()
    assert caught.value.response["Error"]["Code"] == "Throttling"
    assert throttle.sent["111111111111"] == throttle.throttled["111111111111"] == 3
    assert len(backoffs) == 2, backoffs  # a backoff before each retry
