"""How long `rekey credential-process` takes to answer, as the AWS CLI runs it (a new process for
every command). Not a test: the figures are the machine's.

    .venv/bin/python -m bench.credential_process [--runs 30] [--command "rekey credential-process ..."]

It starts the emulator in this process, creates a user, its key and its secret `rekey/bench-user`,
writes an AWS config file with the README's profile, fills the cache once (through the bootstrap
profile), then launches the command `--runs` times in each of two states:

- **cache hit**: the cache was written moments ago (the common case: every `aws` command);
- **refresh**: the cache is older than the refresh interval, so the key is read from Secrets
  Manager (what a long-running SDK client does about once an hour).

Each launch is timed from `subprocess.run` to its exit (interpreter start included), after
`--warmup` untimed launches; the median, 10th and 90th percentiles are printed.

A consumer's Python keeps compiled bytecode (pip compiles a package when it installs it): the
launches run without PYTHONDONTWRITEBYTECODE, so the warm-up writes rekey's `.pyc` files as any
first run would. `--no-bytecode-cache` measures with it set (every launch compiles rekey's
modules again, ~15 ms here)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rekey_dev import emulator as em

USER = "bench-user"
SECRET_ID = f"rekey/{USER}"
DEFAULT_COMMAND = f"{Path(sys.executable).parent / 'rekey'} credential-process --secret-id {SECRET_ID}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-bytecode-cache", action="store_true", help="set PYTHONDONTWRITEBYTECODE=1")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="the credential_process line (default: %(default)s)")
    args = parser.parse_args(argv)

    emulator = em.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            home = Path(scratch)
            env = consumer_environment(emulator, home)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            if args.no_bytecode_cache:
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            cache = home / ".aws" / "rekey" / f"{SECRET_ID.replace('/', '_')}.json"
            command = shlex.split(args.command)
            run(command, env)  # the first run: through the bootstrap profile, writes the cache
            if not cache.exists():
                print(f"the first run wrote no cache at {cache}", file=sys.stderr)
                return 1
            hit = timed(command, env, args.runs, args.warmup)
            refresh = timed(command, env, args.runs, args.warmup, before=lambda: make_stale(cache))
    finally:
        emulator.stop()
    print(f"command: {args.command}")
    print(f"runs: {args.runs} per state (after {args.warmup} warm-up launches); bytecode cache: "
          f"{'off' if args.no_bytecode_cache else 'on'}")  # fmt: skip
    for label, samples in (("cache hit", hit), ("refresh", refresh)):
        print(f"{label:>10}: median {ms(statistics.median(samples))}, p10 {ms(quantile(samples, 0.1))}, "
              f"p90 {ms(quantile(samples, 0.9))}")  # fmt: skip
    return 0


def consumer_environment(emulator: em.Emulator, home: Path) -> dict[str, str]:
    """A consumer's environment: HOME with the README's config, AWS_PROFILE, the emulator's URL,
    and no credentials or region of its own."""
    iam, secrets = emulator.client("iam"), emulator.client("secretsmanager")
    iam.create_user(UserName=USER)
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    secrets.create_secret(
        Name=SECRET_ID, SecretString=json.dumps({"AccessKey": key["AccessKeyId"], "SecretKey": key["SecretAccessKey"]})
    )
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text(
        "[profile bootstrap]\n"
        f"aws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n"
        "region = us-east-1\n"
        "[profile consumer]\n"
        f"credential_process = {DEFAULT_COMMAND} --bootstrap-profile bootstrap\n"
        "region = us-east-1\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_PROFILE="consumer", AWS_ENDPOINT_URL=emulator.url)
    return env


def run(command: list[str], env: dict[str, str]) -> None:
    # The bootstrap profile is named by the config line; the first run passes it as well.
    out = subprocess.run([*command, "--bootstrap-profile", "bootstrap"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"credential-process failed: {out.stderr.strip()}")


def timed(command: list[str], env: dict[str, str], runs: int, warmup: int, before=None) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for i in range(warmup + runs):
        if before is not None:
            before()
        started = time.perf_counter()
        out = subprocess.run(command, env=env, capture_output=True)
        elapsed = time.perf_counter() - started
        if out.returncode != 0:
            raise SystemExit(f"credential-process failed: {out.stderr.decode().strip()}")
        json.loads(out.stdout)  # a credential document, not printed
        if i >= warmup:
            samples.append(elapsed)
    return samples


def make_stale(cache: Path) -> None:
    """Backdate the cache past any refresh interval (keeping its mode)."""
    data = json.loads(cache.read_text())
    data["FetchedAt"] = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cache.write_text(json.dumps(data))


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
