"""`rekey credential-process` decisions, on stub clients (no network): the module
rekey_credential_process, its own distribution (functions/consumer), which the `rekey` CLI runs."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rekey_credential_process as consumer
from botocore.exceptions import ClientError, EndpointConnectionError
from rekey_credential_process import CredentialError, CredentialProcess, Key, read_cache, resolve_region, write_cache

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OLD = Key("AKIAOLDOLDOLDOLDOLD1", "old-secret-" + "o" * 29)
NEW = Key("AKIANEWNEWNEWNEWNEW2", "new-secret-" + "n" * 29)
SECRET = "rekey/ci"
REGION = "eu-west-1"


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


def process(
    tmp_path: Path, secrets: Secrets, bootstrap: str | None = None, now: datetime = NOW
) -> tuple[CredentialProcess, io.StringIO]:
    err = io.StringIO()
    return (
        CredentialProcess(
            secret_id=SECRET,
            cache=tmp_path / "cache" / "ci.json",
            region=REGION,
            bootstrap_profile=bootstrap,
            now=lambda: now,
            stderr=err,
            make_client=secrets.factory,
        ),
        err,
    )


def cached_key(cp: CredentialProcess) -> Key | None:
    cached, _ = read_cache(cp.cache, SECRET, REGION)
    return cached.key if cached else None


def stale(cp: CredentialProcess, key: Key) -> None:
    """A cache written long enough ago that the key must be read again."""
    write_cache(cp.cache, key, SECRET, NOW - timedelta(hours=2), REGION)


# --------------------------------------------------------------------------- reading and following


def test_first_run_uses_the_bootstrap_profile_and_caches_privately(tmp_path: Path) -> None:
    cp, err = process(tmp_path, Secrets({"profile:boot": NEW}), bootstrap="boot")
    doc = cp.run()
    assert doc == {"Version": 1, "AccessKeyId": NEW.access_key_id, "SecretAccessKey": NEW.secret_access_key,
                   "Expiration": "2026-11-28T13:00:00Z"}  # fmt: skip
    assert cached_key(cp) == NEW
    assert stat.S_IMODE(cp.cache.stat().st_mode) == 0o600
    assert json.loads(cp.cache.read_text())["Region"] == REGION
    assert err.getvalue() == ""


def test_a_fresh_cache_answers_without_asking_aws(tmp_path: Path) -> None:
    secrets = Secrets({})
    cp, err = process(tmp_path, secrets)
    write_cache(cp.cache, NEW, SECRET, NOW - timedelta(minutes=44), REGION)
    doc = cp.run()
    assert secrets.asked == []
    # The Expiration is the one handed out when the key was read: the SDK asks again on time.
    assert doc["AccessKeyId"] == NEW.access_key_id and doc["Expiration"] == "2026-11-28T12:16:00Z"
    assert err.getvalue() == ""


def test_a_cache_within_botocores_refresh_margin_is_read_again(tmp_path: Path) -> None:
    """botocore refreshes 15 minutes before Expiration: serving such a key again would make it
    start the process on every call."""
    secrets = Secrets({NEW.access_key_id: NEW})
    cp, _ = process(tmp_path, secrets)
    write_cache(cp.cache, NEW, SECRET, NOW - timedelta(minutes=46), REGION)
    assert cp.run()["Expiration"] == "2026-11-28T13:00:00Z"
    assert secrets.asked == [NEW.access_key_id]
    assert json.loads(cp.cache.read_text())["FetchedAt"] == "2026-11-28T12:00:00Z"  # fresh again


def test_a_cache_from_the_future_is_not_trusted_to_be_fresh(tmp_path: Path) -> None:
    secrets = Secrets({NEW.access_key_id: NEW})
    cp, _ = process(tmp_path, secrets)
    write_cache(cp.cache, NEW, SECRET, NOW + timedelta(days=1), REGION)
    cp.run()
    assert secrets.asked == [NEW.access_key_id]


def test_later_runs_authenticate_with_the_cached_key_and_follow_a_rotation(tmp_path: Path) -> None:
    secrets = Secrets({OLD.access_key_id: NEW})
    cp, _ = process(tmp_path, secrets)
    stale(cp, OLD)
    assert cp.run()["AccessKeyId"] == NEW.access_key_id
    assert secrets.asked == [OLD.access_key_id]
    assert cached_key(cp) == NEW


def test_a_short_expiration_keeps_half_of_it_fresh(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({}))
    cp.refresh = timedelta(minutes=10)
    write_cache(cp.cache, NEW, SECRET, NOW - timedelta(minutes=4), REGION)
    assert cp.run()["Expiration"] == "2026-11-28T12:06:00Z"


def test_unreachable_secrets_manager_serves_the_cached_key_and_says_so(tmp_path: Path) -> None:
    secrets = Secrets({OLD.access_key_id: EndpointConnectionError(endpoint_url="https://x")})
    cp, err = process(tmp_path, secrets)
    stale(cp, OLD)
    doc = cp.run()
    assert doc["AccessKeyId"] == OLD.access_key_id and doc["Expiration"] == "2026-11-28T12:05:00Z"
    assert "cannot be reached" in err.getvalue() and OLD.secret_access_key not in err.getvalue()


def test_server_errors_count_as_unreachable(tmp_path: Path) -> None:
    cp, err = process(tmp_path, Secrets({OLD.access_key_id: error("InternalServiceError", 500)}))
    stale(cp, OLD)
    assert cp.run()["AccessKeyId"] == OLD.access_key_id
    assert "InternalServiceError" in err.getvalue()


def test_a_rejected_cached_key_without_bootstrap_is_one_clear_line(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({OLD.access_key_id: error("InvalidClientTokenId", 403)}))
    stale(cp, OLD)
    with pytest.raises(CredentialError) as raised:
        cp.run()
    message = str(raised.value)
    assert "\n" not in message and OLD.access_key_id in message and "--bootstrap-profile" in message
    assert OLD.secret_access_key not in message


def test_a_rejected_cached_key_falls_back_to_the_bootstrap_profile(tmp_path: Path) -> None:
    secrets = Secrets({OLD.access_key_id: error("InvalidClientTokenId", 403), "profile:boot": NEW})
    cp, err = process(tmp_path, secrets, bootstrap="boot")
    stale(cp, OLD)
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


def test_key_repr_hides_the_secret() -> None:
    assert NEW.secret_access_key not in repr(NEW)
    assert Key(NEW.access_key_id, NEW.secret_access_key) == NEW != OLD


def test_any_403_counts_as_a_rejected_key(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({OLD.access_key_id: error("", 403)}))
    stale(cp, OLD)
    with pytest.raises(CredentialError, match="was rejected by AWS"):
        cp.run()


# --------------------------------------------------------------------------- the cache rule


def test_the_cache_is_replaced_atomically_and_stays_private(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    write_cache(path, OLD, SECRET, NOW, REGION)
    path.chmod(0o644)  # even if someone widened it, a rewrite makes it private again
    write_cache(path, NEW, SECRET, NOW, REGION)
    cached, why = read_cache(path, SECRET, REGION)
    assert cached is not None and cached.key == NEW and why is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary file left behind


def ignored_then_rewritten(tmp_path: Path, spoil: Any, reason: str) -> None:
    """A cache that breaks the rule is not used (not even to sign), is reported on stderr, and is
    rewritten from the bootstrap profile: this user's file, mode 0600, this secret and region."""
    secrets = Secrets({"profile:boot": NEW, OLD.access_key_id: NEW})
    cp, err = process(tmp_path, secrets, bootstrap="boot")
    write_cache(cp.cache, OLD, SECRET, NOW - timedelta(minutes=1), REGION)  # fresh: it would be served
    spoil(cp.cache)
    assert cp.run()["AccessKeyId"] == NEW.access_key_id
    assert secrets.asked == ["profile:boot"]
    assert reason in err.getvalue() and str(cp.cache) in err.getvalue()
    assert err.getvalue().count("\n") == 1 and OLD.secret_access_key not in err.getvalue()
    info = cp.cache.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.getuid()
    data = json.loads(cp.cache.read_text())
    assert (data["SecretId"], data["Region"], data["AccessKeyId"]) == (SECRET, REGION, NEW.access_key_id)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o660, 0o606, 0o400, 0o700])
def test_a_cache_whose_mode_is_not_0600_is_ignored_and_rewritten(tmp_path: Path, mode: int) -> None:
    ignored_then_rewritten(tmp_path, lambda p: p.chmod(mode), f"has mode {mode:04o}, not 0600")


def test_a_cache_of_another_user_is_ignored_and_rewritten(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("giving a file to another user needs root (CI runs as root); see the next test")
    ignored_then_rewritten(tmp_path, lambda p: os.chown(p, 65534, -1), "belongs to uid 65534, not to this user")


def test_a_cache_of_another_uid_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.json"
    write_cache(path, NEW, SECRET, NOW, REGION)
    owner = path.stat().st_uid
    monkeypatch.setattr(consumer.os, "getuid", lambda: owner + 1)  # this process, as someone else
    cached, why = read_cache(path, SECRET, REGION)
    assert cached is None and why == f"belongs to uid {owner}, not to this user ({owner + 1})"


def test_a_cache_for_another_secret_is_ignored_and_rewritten(tmp_path: Path) -> None:
    def other_secret(path: Path) -> None:
        write_cache(path, OLD, "rekey/someone-else", NOW, REGION)

    ignored_then_rewritten(tmp_path, other_secret, "is for another secret (rekey/someone-else)")


def test_a_cache_for_another_region_is_ignored_and_rewritten(tmp_path: Path) -> None:
    def other_region(path: Path) -> None:
        write_cache(path, OLD, SECRET, NOW, "us-east-1")

    ignored_then_rewritten(tmp_path, other_region, "is for region us-east-1, not eu-west-1")


def test_a_symlinked_cache_is_ignored_and_replaced_by_a_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"

    def symlink(path: Path) -> None:
        path.rename(target)
        path.symlink_to(target)

    ignored_then_rewritten(tmp_path, symlink, "is a symbolic link")
    assert json.loads(target.read_text())["AccessKeyId"] == OLD.access_key_id  # the link's target untouched


@pytest.mark.parametrize("content", ["{not json", "[]", '{"SecretId": "rekey/ci"}', ""])
def test_a_corrupt_cache_is_ignored_and_rewritten(tmp_path: Path, content: str) -> None:
    ignored_then_rewritten(tmp_path, lambda p: p.write_text(content), "is not a rekey cache")


def test_a_directory_in_place_of_the_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.mkdir()
    path.chmod(0o600)
    cached, why = read_cache(path, SECRET, REGION)
    assert cached is None and why is not None


def test_an_ignored_cache_without_bootstrap_says_why_and_is_not_used(tmp_path: Path) -> None:
    secrets = Secrets({OLD.access_key_id: NEW})
    cp, _ = process(tmp_path, secrets)
    stale(cp, OLD)
    cp.cache.chmod(0o644)
    with pytest.raises(CredentialError) as raised:
        cp.run()
    assert "has mode 0644" in str(raised.value) and "--bootstrap-profile" in str(raised.value)
    assert secrets.asked == []  # a key from a cache that breaks the rule never signs anything


def test_a_cache_of_an_earlier_version_naming_no_region_is_used(tmp_path: Path) -> None:
    cp, _ = process(tmp_path, Secrets({}))
    write_cache(cp.cache, NEW, SECRET, NOW - timedelta(minutes=5))
    assert "Region" not in json.loads(cp.cache.read_text())
    assert cp.run()["AccessKeyId"] == NEW.access_key_id


# --------------------------------------------------------------------------- the region


def config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config"
    path.write_text(text)
    return {"AWS_CONFIG_FILE": str(path)}


RUNS = "credential_process = rekey credential-process --secret-id rekey/ci"


def test_the_region_of_the_profile_running_the_command(tmp_path: Path) -> None:
    # The AWS CLI passes neither AWS_PROFILE nor --region to the process: find the profile by its line.
    env = config(tmp_path, f"[profile boot]\nregion = us-west-2\n[profile ci]\n{RUNS} --bootstrap-profile boot\n"
                           "region = eu-west-1\n[default]\nregion = ap-south-1\n")  # fmt: skip
    assert resolve_region(SECRET, None, "boot", {**env, "AWS_DEFAULT_REGION": "us-east-2"}) == (
        "eu-west-1",
        "profile ci",
    )


def test_the_default_profile_and_the_equals_form(tmp_path: Path) -> None:
    env = config(tmp_path, "[default]\ncredential_process = rekey credential-process --secret-id=rekey/ci\n"
                           "region = sa-east-1\n")  # fmt: skip
    assert resolve_region(SECRET, None, None, env)[0] == "sa-east-1"


@pytest.mark.parametrize(
    "command",
    [
        "rekey-credential-process --secret-id rekey/ci",  # the standalone distribution's script
        "/opt/ci/venv/bin/rekey-credential-process --secret-id=rekey/ci",
        "python3 -m rekey_credential_process --secret-id rekey/ci",
        "python3 -m rekey_cli credential-process --secret-id rekey/ci",
    ],
)
def test_the_profile_is_found_whichever_way_it_runs_the_command(tmp_path: Path, command: str) -> None:
    env = config(tmp_path, f"[profile ci]\ncredential_process = {command}\nregion = eu-west-3\n")
    assert resolve_region(SECRET, None, None, env) == ("eu-west-3", "profile ci")


def test_another_tools_line_naming_the_secret_is_not_ours(tmp_path: Path) -> None:
    env = config(tmp_path, "[profile ci]\ncredential_process = my-credential-processor --secret-id rekey/ci\n"
                           "region = eu-west-3\n")  # fmt: skip
    with pytest.raises(CredentialError, match="no region"):
        resolve_region(SECRET, None, None, env)


def test_region_flag_and_arn_come_first(tmp_path: Path) -> None:
    env = config(tmp_path, f"[profile ci]\n{RUNS}\nregion = eu-west-1\n")
    assert resolve_region(SECRET, "us-east-1", None, env) == ("us-east-1", "--region")
    arn = "arn:aws:secretsmanager:ap-southeast-2:111122223333:secret:rekey/ci-AbCdEf"
    assert resolve_region(arn, None, None, env) == ("ap-southeast-2", "the secret's ARN")


def test_aws_profile_picks_among_profiles_running_the_same_secret(tmp_path: Path) -> None:
    env = config(tmp_path, f"[profile eu]\n{RUNS}\nregion = eu-west-1\n[profile ap]\n{RUNS}\nregion = ap-southeast-2\n")
    assert resolve_region(SECRET, None, None, {**env, "AWS_PROFILE": "ap"})[0] == "ap-southeast-2"
    assert resolve_region(SECRET, None, None, {**env, "AWS_DEFAULT_PROFILE": "eu", "AWS_PROFILE": "ap"})[0] == (
        "eu-west-1"
    )
    # Without it the choice is ambiguous: the environment decides, else one line says what to do.
    assert resolve_region(SECRET, None, None, {**env, "AWS_REGION": "eu-west-1"})[0] == "eu-west-1"
    with pytest.raises(CredentialError, match=r"profiles ap, eu run it with different regions\): .* --region$"):
        resolve_region(SECRET, None, None, env)


def test_aws_profiles_own_region_when_it_reaches_the_command_through_source_profile(tmp_path: Path) -> None:
    env = config(tmp_path, "[profile app]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n"
                           "region = eu-central-1\n[profile base]\ncredential_process = some-other-tool\n")  # fmt: skip
    assert resolve_region(SECRET, None, None, {**env, "AWS_PROFILE": "app"})[0] == "eu-central-1"


def test_then_the_environment_then_the_bootstrap_profile(tmp_path: Path) -> None:
    env = config(tmp_path, "[profile boot]\nregion = us-west-2\n")
    both = {**env, "AWS_REGION": "eu-north-1", "AWS_DEFAULT_REGION": "eu-south-1"}
    assert resolve_region(SECRET, None, "boot", both) == ("eu-north-1", "AWS_REGION")
    assert resolve_region(SECRET, None, "boot", {**env, "AWS_DEFAULT_REGION": "eu-south-1"})[0] == "eu-south-1"
    assert resolve_region(SECRET, None, "boot", env) == ("us-west-2", "profile boot (bootstrap)")


def test_no_region_anywhere_is_one_line(tmp_path: Path) -> None:
    env = config(tmp_path, "[profile ci\nbroken")  # an unreadable config counts as none
    with pytest.raises(CredentialError) as raised:
        resolve_region(SECRET, None, None, env)
    assert "\n" not in str(raised.value) and "--region" in str(raised.value)
    assert resolve_region(SECRET, None, None, {"AWS_CONFIG_FILE": str(tmp_path / "missing")} | {"AWS_REGION": "x"})


# --------------------------------------------------------------------------- the command


def test_every_failure_is_one_line_and_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--secret-id", SECRET, "--region", REGION, "--cache", str(tmp_path / "c.json")]

    def explode(self: CredentialProcess) -> dict[str, Any]:
        raise RuntimeError("something\nunforeseen")

    monkeypatch.setattr(CredentialProcess, "run", explode)
    assert consumer.main(args) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == "rekey credential-process: unexpected RuntimeError: something unforeseen\n"

    with pytest.raises(SystemExit) as exited:
        consumer.main(["--region", REGION])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == "" and err.count("\n") == 1 and "--secret-id" in err

    assert consumer.main([*args, "--expiration-minutes", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_standalone_script_speaks_in_its_own_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rekey-credential-process` (rekey-aws-credential-process's script): the same command, and
    its messages and help name it as the consumer typed it."""
    monkeypatch.setattr(sys, "argv", ["rekey-credential-process", "--secret-id", SECRET, "--region", REGION,
                                      "--cache", str(tmp_path / "c.json")])  # fmt: skip
    assert consumer.console() == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("rekey-credential-process: no cached key at ") and err.count("\n") == 1
    monkeypatch.setattr(sys, "argv", ["rekey-credential-process", "--help"])
    with pytest.raises(SystemExit):
        consumer.console()
    text = capsys.readouterr().out
    assert text.startswith("usage: rekey-credential-process ")
    assert "credential_process = rekey-credential-process --secret-id rekey/ci-runner" in text


def test_it_imports_only_the_standard_library_boto3_and_botocore() -> None:
    """Its distribution requires boto3 alone: nothing of rekey (rekey, rekey_cli, rekey_dev),
    Powertools or pydantic, even for type checking."""
    import ast

    source = Path(consumer.__file__).read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import: the module is not in a package"
            found.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    assert found - sys.stdlib_module_names - {"__future__"} == {"boto3", "botocore"}


def test_a_cache_hit_imports_neither_boto3_nor_the_rest_of_rekey(tmp_path: Path) -> None:
    cache = tmp_path / "c.json"
    write_cache(cache, NEW, SECRET, datetime.now(UTC), REGION)
    script = (
        "import sys\n"
        "from rekey_cli.entry import main\n"
        f"args = ['--secret-id', '{SECRET}', '--region', '{REGION}', '--cache', '{cache}']\n"
        "code = main(['credential-process', *args])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'pydantic', "
        "'aws_lambda_powertools') or m in ('rekey_cli.cli', 'rekey.use_cases', 'typing', 'dataclasses'))\n"
        "print(code, heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stderr.strip() == "0 []"
    assert json.loads(out.stdout)["AccessKeyId"] == NEW.access_key_id


def test_help_tells_the_region_order_and_the_cache_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        consumer.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "--region; else the secret's ARN; else `region` of the config profile whose credential_process runs",
        "AWS_PROFILE",
        "AWS_REGION or AWS_DEFAULT_REGION; else the bootstrap profile's region",
        "used only when it is this user's file with that mode, for the same secret and region",
        "until its Expiration is 15 minutes away",
    ):
        assert phrase in text


def test_rekey_help_lists_it_and_routes_it(capsys: pytest.CaptureFixture[str]) -> None:
    from rekey_cli.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "credential-process" in capsys.readouterr().out
    # The full CLI parses it the same way (e.g. `rekey -v credential-process ...`).
    assert main(["-v", "credential-process", "--secret-id", SECRET, "--expiration-minutes", "0"]) == 2
