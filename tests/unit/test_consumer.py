"""`rekey credential-process` decisions, on stub clients (no network)."""

from __future__ import annotations

import io
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from rekey.consumer import CredentialError, CredentialProcess, Key, read_cache, write_cache

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OLD = Key("AKIAOLDOLDOLDOLDOLD1", "old-secret-" + "o" * 29)
NEW = Key("AKIANEWNEWNEWNEWNEW2", "new-secret-" + "n" * 29)


def error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Get")


class Secrets:
    """A Secrets Manager stub: answers per signing identity (a key, or the bootstrap profile)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def factory(self, *, key: Key | None, profile: str | None, region: str | None) -> Any:
        who = key.access_key_id if key else f"profile:{profile}"
        outer = self

        class Client:
            def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:
                outer.asked.append(who)
                answer = outer.answers[who]
                if isinstance(answer, Exception):
                    raise answer
                return {
                    "SecretString": json.dumps(
                        {"AccessKey": answer.access_key_id, "SecretKey": answer.secret_access_key}
                    )
                }

        return Client()


def process(tmp_path: Path, secrets: Secrets, bootstrap: str | None = None) -> tuple[CredentialProcess, io.StringIO]:
    err = io.StringIO()
    return (
        CredentialProcess(
            secret_id="rekey/ci",
            cache=tmp_path / "cache" / "ci.json",
            bootstrap_profile=bootstrap,
            now=lambda: NOW,
            stderr=err,
            make_client=secrets.factory,
        ),
        err,
    )


def test_first_run_uses_the_bootstrap_profile_and_caches_privately(tmp_path: Path) -> None:
    cp, err = process(tmp_path, Secrets({"profile:boot": NEW}), bootstrap="boot")
    doc = cp.run()
    assert doc == {"Version": 1, "AccessKeyId": NEW.access_key_id, "SecretAccessKey": NEW.secret_access_key,
                   "Expiration": "2026-11-28T13:00:00Z"}  # fmt: skip
    assert read_cache(cp.cache) == NEW
    assert stat.S_IMODE(cp.cache.stat().st_mode) == 0o600
    assert err.getvalue() == ""


def test_later_runs_authenticate_with_the_cached_key_and_follow_a_rotation(tmp_path: Path) -> None:
    secrets = Secrets({OLD.access_key_id: NEW})
    cp, _ = process(tmp_path, secrets)
    write_cache(cp.cache, OLD, "rekey/ci", NOW)
    assert cp.run()["AccessKeyId"] == NEW.access_key_id
    assert secrets.asked == [OLD.access_key_id]
    assert read_cache(cp.cache) == NEW


def test_unreachable_secrets_manager_serves_the_cached_key_and_says_so(tmp_path: Path) -> None:
    secrets = Secrets({OLD.access_key_id: EndpointConnectionError(endpoint_url="https://x")})
    cp, err = process(tmp_path, secrets)
    write_cache(cp.cache, OLD, "rekey/ci", NOW)
    doc = cp.run()
    assert doc["AccessKeyId"] == OLD.access_key_id and doc["Expiration"] == "2026-11-28T12:05:00Z"
    assert "cannot be reached" in err.getvalue() and OLD.secret_access_key not in err.getvalue()


def test_server_errors_count_as_unreachable(tmp_path: Path) -> None:
    cp, err = process(tmp_path, Secrets({OLD.access_key_id: error("InternalServiceError", 500)}))
    write_cache(cp.cache, OLD, "rekey/ci", NOW)
    assert cp.run()["AccessKeyId"] == OLD.access_key_id
    assert "InternalServiceError" in err.getvalue()


def test_a_rejected_cached_key_without_bootstrap_is_one_clear_line(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({OLD.access_key_id: error("InvalidClientTokenId", 403)}))
    write_cache(cp.cache, OLD, "rekey/ci", NOW)
    with pytest.raises(CredentialError) as raised:
        cp.run()
    message = str(raised.value)
    assert "\n" not in message and OLD.access_key_id in message and "--bootstrap-profile" in message
    assert OLD.secret_access_key not in message


def test_a_rejected_cached_key_falls_back_to_the_bootstrap_profile(tmp_path: Path) -> None:
    secrets = Secrets({OLD.access_key_id: error("InvalidClientTokenId", 403), "profile:boot": NEW})
    cp, err = process(tmp_path, secrets, bootstrap="boot")
    write_cache(cp.cache, OLD, "rekey/ci", NOW)
    assert cp.run()["AccessKeyId"] == NEW.access_key_id
    assert "rejected" in err.getvalue()


def test_nothing_cached_and_no_bootstrap_explains_what_to_do(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({}))
    with pytest.raises(CredentialError, match="--bootstrap-profile"):
        cp.run()


def test_unreachable_on_first_run_is_an_error_not_a_guess(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({"profile:boot": EndpointConnectionError(endpoint_url="x")}), bootstrap="boot")
    with pytest.raises(CredentialError, match="no key is cached yet"):
        cp.run()


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({"profile:boot": NEW}), bootstrap="boot")
    cp.cache.parent.mkdir(parents=True)
    cp.cache.write_text("{not json")
    assert cp.run()["AccessKeyId"] == NEW.access_key_id


def test_the_cache_is_replaced_atomically_and_stays_private(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    write_cache(path, OLD, "rekey/ci", NOW)
    path.chmod(0o644)  # even if someone widened it, a rewrite makes it private again
    write_cache(path, NEW, "rekey/ci", NOW)
    assert read_cache(path) == NEW and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary file left behind


def test_key_repr_hides_the_secret() -> None:
    assert NEW.secret_access_key not in repr(NEW)


def test_any_403_counts_as_a_rejected_key(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({OLD.access_key_id: error("", 403)}))
    write_cache(cp.cache, OLD, "rekey/ci", NOW)
    with pytest.raises(CredentialError, match="was rejected by AWS"):
        cp.run()
