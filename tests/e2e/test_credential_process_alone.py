"""rekey-aws-credential-process installed alone (issue 29, part 4), as a consumer's CI runner or
laptop would: its wheel holds one module and one script and requires boto3 only; installed into
a fresh venv with no rekey, Powertools or pydantic, it serves the AWS CLI on the emulator as
`rekey credential-process` does (tests/e2e/test_credential_process.py).

Offline: the wheel is built here and installed with `--no-deps --no-index`; its one requirement,
boto3, comes from the consumers' tool venv (`make consumers`: the AWS CLI's boto3 and botocore),
added to the fresh venv's path by a .pth file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rekey_dev.authz import enforced

from tests.conftest import Org
from tests.e2e.consumer_env import consumer_env, refusing_inactive_keys, tool
from tests.e2e.test_credential_process import USER, bootstrap, make_stale, user_with_secret, write_config
from tests.e2e.test_packaging import build_wheel

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "rekey-credential-process"
# What the full CLI needs and a consumer's machine does not.
NOT_INSTALLED = ("rekey", "rekey_cli", "rekey_dev", "aws_lambda_powertools", "pydantic", "moto")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("consumer-wheel")
    build_wheel(ROOT / "functions" / "consumer", out, "pyproject.toml", "README.md", "rekey_credential_process.py")
    (built,) = out.glob("rekey_aws_credential_process-*.whl")
    return built


def test_the_wheel_holds_one_module_and_its_script_and_requires_only_boto3(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert [n for n in names if ".dist-info/" not in n] == ["rekey_credential_process.py"]
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert requires == ["Requires-Dist: boto3>=1.34"]
    assert f"{SCRIPT} = rekey_credential_process:console" in scripts


def python_paths(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.strip()


@pytest.fixture(scope="module")
def alone(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel alone, and boto3 from the consumers' tool venv: its bin/."""
    venv = tmp_path_factory.mktemp("consumer-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    Path(python_paths(python), "consumers-boto3.pth").write_text(python_paths(tool("python")) + "\n")
    return venv / "bin"


def consumer_machine(home: Path, org: Org, bin_dir: Path) -> dict[str, str]:
    """A consumer's environment (no PYTHONPATH, no AWS settings) with the fresh venv's bin/ on PATH
    instead of rekey's."""
    env = consumer_env(home, org.emulator.url)
    env["PATH"] = os.pathsep.join([str(bin_dir), *env["PATH"].split(os.pathsep)[1:]])
    return env


def test_installed_alone_it_has_its_script_and_none_of_rekey(alone: Path, tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    helped = subprocess.run([str(alone / SCRIPT), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith(f"usage: {SCRIPT} ")
    assert f"credential_process = {SCRIPT} --secret-id rekey/ci-runner" in helped.stdout
    probe = "import importlib.util as u, json; print(json.dumps({m: bool(u.find_spec(m)) for m in %r}))"
    found = subprocess.run(
        [str(alone / "python"), "-c", probe % (("boto3", "botocore", *NOT_INSTALLED),)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(found.stdout) == {"boto3": True, "botocore": True} | dict.fromkeys(NOT_INSTALLED, False)


def test_installed_alone_it_serves_the_aws_cli_through_a_rotation(org: Org, alone: Path, tmp_path: Path) -> None:
    """`credential_process = rekey-credential-process ...`: the bootstrap, a cache hit, a re-read
    with the cached key after the secret moved on, and a failure as one line in its own name."""
    arn, key = user_with_secret(org)
    profile = f"[profile ci]\ncredential_process = {SCRIPT} --secret-id rekey/{USER} --bootstrap-profile ci-bootstrap\n"
    write_config(tmp_path, profile + "region = us-east-1\n" + bootstrap(key))
    cache = tmp_path / ".aws" / "rekey" / f"rekey_{USER}.json"
    env = consumer_machine(tmp_path, org, alone)

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        with enforced(org.emulator), refusing_inactive_keys():
            command = [str(tool("aws")), "--profile", "ci", *args]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    for step in ("bootstrap", "cache hit"):
        out = aws("sts", "get-caller-identity")
        assert out.returncode == 0, f"{step}: {out.stderr}"
        assert json.loads(out.stdout)["Arn"] == arn
    # rekey rotates: the next read, signed with the cached key, moves the machine to the new key.
    iam = org.client("iam", "payments")
    new = iam.create_access_key(UserName=USER)["AccessKey"]
    value = json.dumps({"AccessKey": new["AccessKeyId"], "SecretKey": new["SecretAccessKey"]})
    org.client("secretsmanager", "payments").put_secret_value(SecretId=f"rekey/{USER}", SecretString=value)
    make_stale(cache)
    out = aws("sts", "get-caller-identity")
    assert out.returncode == 0, out.stderr
    assert json.loads(cache.read_text())["AccessKeyId"] == new["AccessKeyId"]

    write_config(tmp_path, profile + bootstrap(key))  # no region anywhere
    cache.unlink()
    out = aws("--region", "us-east-1", "sts", "get-caller-identity")
    assert out.returncode != 0 and out.stdout == ""
    assert f"{SCRIPT}: no region for rekey/{USER}" in out.stderr and "Traceback" not in out.stderr
