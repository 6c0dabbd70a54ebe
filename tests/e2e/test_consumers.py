"""The consumers of docs/consumers.md, as written there, through a key's whole life: the AWS CLI v1 and boto3
on a `credential_process` profile, aws-secretsmanager-caching, and the External Secrets
Operator's sync (modelled: there is no cluster here), at days 0 -> 91 -> 102 -> 113 while rekey
rotates, deactivates and deletes the key.

The clients are the consumers' own, from their tool venv (`make consumers`), run as processes
against the in-process emulator, with IAM enforced (the user holds only the documented policy)
and a deactivated key refused, as AWS does (moto would accept it). The documented snippets are
used as they stand; only the example key is replaced by the user's first key."""

from __future__ import annotations

import json
import shlex
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError
from moto.iam.models import iam_backends
from rekey_cli.cli import main
from rekey_dev.authz import enforced

from tests.conftest import Org
from tests.e2e.consumer_env import consumer_env, doc_block, doc_blocks, refusing_inactive_keys, tool

SECTION = "Reading the current key"  # a section of docs/consumers.md
USER = "ci-runner"  # the documented names: nothing to replace
SECRET_ID = f"rekey/{USER}"
EXAMPLE_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def with_key(text: str, key: dict[str, str]) -> str:
    return text.replace(EXAMPLE_KEY[0], key["AccessKeyId"]).replace(EXAMPLE_KEY[1], key["SecretAccessKey"])


class Consumers:
    """The documented consumers of USER on one machine (a HOME of their own)."""

    def __init__(self, org: Org, home: Path, first_key: dict[str, str]) -> None:
        self.org = org
        self.home = home
        (home / ".aws").mkdir(parents=True)
        config = doc_block(SECTION, "ini", "credential_process")
        assert config.startswith("# ~/.aws/config\n")
        (home / ".aws" / "config").write_text(with_key(config, first_key))
        self.cache = home / ".aws" / "rekey" / "rekey_ci-runner.json"  # the documented default
        self.env = consumer_env(home, org.emulator.url)
        self.outputs: list[str] = []
        # The Kubernetes Secret as `kubectl create secret` leaves it, and the manifest ESO reconciles.
        words = shlex.split(doc_block(SECTION, "sh", "kubectl create secret").replace("\\\n", " "))
        self.k8s_name = words[words.index("generic") + 1]
        self.k8s_data = dict(
            w.removeprefix("--from-literal=").split("=", 1)
            for w in shlex.split(with_key(" ".join(words), first_key))
            if w.startswith("--from-literal=")
        )
        self.store, self.external = yaml.safe_load_all(doc_block(SECTION, "yaml", "kind: ExternalSecret"))

    def run(self, *command: str | Path) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(c) for c in command], env=self.env, capture_output=True, text=True, timeout=120)
        self.outputs += [out.stdout, out.stderr]
        return out

    def time_passes(self, days: float) -> None:
        """The consumer's clock moves with rekey's: its cache was written `days` earlier."""
        if self.cache.exists():
            data = json.loads(self.cache.read_text())
            fetched = datetime.fromisoformat(data["FetchedAt"]) - timedelta(days=days)
            data["FetchedAt"] = fetched.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.cache.write_text(json.dumps(data))  # keeps the file's mode (0600)

    def aws_cli(self) -> str:
        out = self.run(tool("aws"), *shlex.split(doc_block(SECTION, "sh", "aws --profile"))[1:])
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["Arn"]

    def boto3(self) -> str:
        out = self.run(tool("python"), "-c", doc_block(SECTION, "python", "boto3.Session"))
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def caching(self) -> subprocess.CompletedProcess[str]:
        """An app that reads the key with aws-secretsmanager-caching, then signs with it: prints
        the key id (never the secret half) and who the key is."""
        app = doc_block(SECTION, "python", "SecretCache") + (
            "\nimport botocore.session as _s\n"
            "_sts = _s.get_session().create_client('sts', region_name='us-east-1',\n"
            "    aws_access_key_id=key['AccessKey'], aws_secret_access_key=key['SecretKey'])\n"
            "print(json.dumps({'AccessKey': key['AccessKey'], 'Arn': _sts.get_caller_identity()['Arn']}))\n"
        )
        return self.run(tool("python"), "-c", app)

    def eso_sync(self) -> str | None:
        """One reconcile of the ExternalSecret, as ESO does it: sign in with the keys the
        SecretStore names in the Kubernetes Secret, read the secret's AWSCURRENT, merge its JSON
        keys into the target Secret. Returns the error code when the read fails."""
        provider = self.store["spec"]["provider"]["aws"]
        auth = provider["auth"]["secretRef"]
        client = boto3.client(
            "secretsmanager",
            region_name=provider["region"],
            endpoint_url=self.org.emulator.url,
            aws_access_key_id=self.k8s_data[auth["accessKeyIDSecretRef"]["key"]],
            aws_secret_access_key=self.k8s_data[auth["secretAccessKeySecretRef"]["key"]],
        )
        try:
            (source,) = self.external["spec"]["dataFrom"]
            value = client.get_secret_value(SecretId=source["extract"]["key"], VersionStage="AWSCURRENT")
        except ClientError as exc:
            return exc.response["Error"]["Code"]
        self.k8s_data.update(json.loads(value["SecretString"]))
        return None

    def signs(self, access_key: str, secret_key: str) -> str:
        """The ARN a key signs as, or the error code AWS (here: the emulator) answers."""
        sts = boto3.client(
            "sts",
            region_name="us-east-1",
            endpoint_url=self.org.emulator.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )
        try:
            return sts.get_caller_identity()["Arn"]
        except ClientError as exc:
            return exc.response["Error"]["Code"]


def last_used(account: str, key_id: str) -> Any:
    used = iam_backends[account]["global"].access_keys[key_id].last_used
    return used.timestamp if used else None


def test_the_documented_consumers_follow_every_rotation_with_iam_enforced(org: Org, tmp_path: Path) -> None:
    account = org.accounts["payments"]
    iam = org.client("iam", "payments")
    arn = iam.create_user(UserName=USER, Tags=[{"Key": "rekey:rotate", "Value": "true"}])["User"]["Arn"]
    first = iam.create_access_key(UserName=USER)["AccessKey"]
    # The documented policy for the user. moto neither expands policy variables (${aws:username}) nor
    # knows IAM's `?` wildcard (it matches resources as regular expressions, where `.` is IAM's `?`).
    policy = doc_block(SECTION, "json", '"Statement"').replace("${aws:username}", USER).replace("?", ".")
    iam.put_user_policy(UserName=USER, PolicyName="read-own-rekey-secret", PolicyDocument=policy)
    consumers = Consumers(org, tmp_path / "home", first)

    def day(days: float) -> None:
        org.age(days)
        consumers.time_passes(days)
        assert main(["run"]) == 0

    # Day 0: no secret yet. The profile signs with the bootstrap key; the app has nothing to read
    # (AWS says "not found", not "denied", thanks to the documented policy); ESO keeps the Secret.
    with enforced(org.emulator), refusing_inactive_keys():
        assert consumers.aws_cli() == arn and consumers.boto3() == arn
        app = consumers.caching()
        assert app.returncode != 0 and "ResourceNotFoundException" in app.stderr
        assert consumers.eso_sync() == "ResourceNotFoundException"
    assert json.loads(consumers.cache.read_text())["AccessKeyId"] == first["AccessKeyId"]
    assert stat.S_IMODE(consumers.cache.stat().st_mode) == 0o600

    # Day 91: rekey rotates. Every consumer's next run moves to the new key by itself.
    day(91)
    (new,) = set(org.keys("payments", USER)) - {first["AccessKeyId"]}
    with enforced(org.emulator), refusing_inactive_keys():
        assert consumers.aws_cli() == arn
        assert json.loads(consumers.cache.read_text())["AccessKeyId"] == new
        # The old key signed one last request (reading the secret that names its successor);
        # the CLI's own request was signed with the new key.
        assert last_used(account, new) > last_used(account, first["AccessKeyId"])
        assert consumers.boto3() == arn
        app = consumers.caching()
        assert app.returncode == 0, app.stderr
        assert json.loads(app.stdout) == {"AccessKey": new, "Arn": arn}
        # ESO reads with the old key once more; the workload using the Secret signs with the new one.
        assert consumers.eso_sync() is None and consumers.k8s_data["AccessKey"] == new
        new_secret = consumers.k8s_data["SecretKey"]
        assert consumers.signs(new, new_secret) == arn

    # Day 102: the old key is deactivated; AWS (the emulator) refuses it; nobody notices.
    day(11)
    assert org.keys("payments", USER) == {first["AccessKeyId"]: "Inactive", new: "Active"}
    assert not org.events("in-use", USER)  # the consumers moved: no warning
    with enforced(org.emulator), refusing_inactive_keys():
        assert consumers.signs(first["AccessKeyId"], first["SecretAccessKey"]) == "InvalidClientTokenId"
        assert consumers.aws_cli() == arn and consumers.boto3() == arn
        assert json.loads(consumers.caching().stdout) == {"AccessKey": new, "Arn": arn}
        assert consumers.eso_sync() is None
        assert consumers.signs(consumers.k8s_data["AccessKey"], consumers.k8s_data["SecretKey"]) == arn

    # Day 113: the old key is deleted; every consumer still works.
    day(11)
    assert org.keys("payments", USER) == {new: "Active"}
    with enforced(org.emulator), refusing_inactive_keys():
        assert consumers.aws_cli() == arn and consumers.boto3() == arn
        assert json.loads(consumers.caching().stdout) == {"AccessKey": new, "Arn": arn}
        assert consumers.eso_sync() is None and consumers.k8s_data["AccessKey"] == new

    # Nothing any consumer printed holds a secret half (credential-process's stdout goes to the SDK).
    for secret in (first["SecretAccessKey"], new_secret):
        assert not any(secret in output for output in consumers.outputs)


def test_the_emulator_refuses_a_deactivated_key_as_aws_does(org: Org, tmp_path: Path) -> None:
    iam = org.client("iam", "payments")
    iam.create_user(UserName=USER)
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    consumers = Consumers(org, tmp_path / "home", key)
    iam.update_access_key(UserName=USER, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with enforced(org.emulator):
        assert consumers.signs(key["AccessKeyId"], key["SecretAccessKey"]).endswith(f":user/{USER}")  # moto
        with refusing_inactive_keys():
            assert consumers.signs(key["AccessKeyId"], key["SecretAccessKey"]) == "InvalidClientTokenId"


def test_the_eso_manifest_reads_the_secret_as_it_stands() -> None:
    """No cluster here: the manifest is held to ESO's v1 API by its fields, and to rekey's secret
    by its names (the self-refreshing loop: the store signs with the Secret the sync writes)."""
    store, external = yaml.safe_load_all(doc_block(SECTION, "yaml", "kind: ExternalSecret"))
    assert (store["apiVersion"], store["kind"]) == ("external-secrets.io/v1", "SecretStore")
    assert (external["apiVersion"], external["kind"]) == ("external-secrets.io/v1", "ExternalSecret")
    aws = store["spec"]["provider"]["aws"]
    assert aws["service"] == "SecretsManager" and aws["region"]
    assert set(aws) == {"service", "region", "auth"}  # no role: the store signs in as the user
    refs = aws["auth"]["secretRef"]
    assert set(refs) == {"accessKeyIDSecretRef", "secretAccessKeySecretRef"}
    spec = external["spec"]
    assert set(spec) == {"refreshInterval", "secretStoreRef", "target", "dataFrom"}
    assert spec["secretStoreRef"] == {"name": store["metadata"]["name"], "kind": "SecretStore"}
    assert spec["target"]["creationPolicy"] == "Merge"  # the Secret exists: created with the first key
    assert spec["dataFrom"] == [{"extract": {"key": SECRET_ID}}]  # the JSON as it stands: its keys, unchanged
    secret_keys = set(json.loads(doc_block(SECTION, "json", '"AccessKey"')))
    assert secret_keys == {"AccessKey", "SecretKey"}
    assert {refs["accessKeyIDSecretRef"]["key"], refs["secretAccessKeySecretRef"]["key"]} == secret_keys
    assert refs["accessKeyIDSecretRef"]["name"] == refs["secretAccessKeySecretRef"]["name"] == spec["target"]["name"]
    kubectl = shlex.split(doc_block(SECTION, "sh", "kubectl create secret").replace("\\\n", " "))
    assert kubectl[kubectl.index("generic") + 1] == spec["target"]["name"]
    assert {w.split("=")[1] for w in kubectl if w.startswith("--from-literal=")} == secret_keys


SNIPPETS = [
    ("json", '"AccessKey"'),
    ("json", '"Statement"'),
    ("ini", "credential_process"),
    ("sh", "aws --profile"),
    ("python", "boto3.Session"),
    ("python", "SecretCache"),
    ("sh", "kubectl create secret"),
    ("yaml", "kind: ExternalSecret"),
]


def test_every_snippet_of_the_section_is_one_the_tests_use() -> None:
    blocks = doc_blocks(SECTION)
    assert len(blocks) == len(SNIPPETS)
    for language, text in blocks:
        assert [m for m in SNIPPETS if m[0] == language and m[1] in text], f"untested snippet: {text[:60]!r}"
    from rekey_dev.emulator import REGION

    assert f"region = {REGION}" in doc_block(SECTION, "ini", "credential_process")  # the hub's region
    assert json.loads(doc_block(SECTION, "json", '"Statement"'))["Statement"][0]["Action"] == [
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",  # aws-secretsmanager-caching describes the secret first
    ]
