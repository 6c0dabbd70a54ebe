"""What the consumer tests share: the emulator refusing deactivated keys, the consumers' tool
venv, a consumer's environment, and the consumer snippets of docs/consumers.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS_DOC = ROOT / "docs" / "consumers.md"
CONSUMERS_VENV = ROOT / ".tools" / "consumers"
APP_BIN = ROOT / ".venv" / "bin"  # where `pip install rekey-aws` puts the `rekey` script


@contextmanager
def refusing_inactive_keys() -> Iterator[None]:
    """moto (5.2) signs with a deactivated key as with an active one; AWS answers
    InvalidClientTokenId (403). Needs authorization on (`rekey_dev.authz.enforced`): moto
    authenticates requests only then."""
    from moto.iam import access_control

    original = access_control.IAMUserAccessKey.__init__

    def authenticate(self: Any, account_id: str, partition: str, access_key_id: str, headers: Any) -> None:
        original(self, account_id, partition, access_key_id, headers)
        key = self.backend.access_keys.get(access_key_id)
        if key is not None and key.status != "Active":
            raise access_control.CreateAccessKeyFailure(reason="InvalidId")

    with mock.patch.object(access_control.IAMUserAccessKey, "__init__", authenticate):
        yield


def tool(name: str) -> Path:
    """A program of the consumers' tool venv (`make consumers` creates it)."""
    path = CONSUMERS_VENV / "bin" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make consumers` (the consumers' clients in their own venv)")
    return path


def consumer_env(home: Path, endpoint: str, **extra: str) -> dict[str, str]:
    """A consumer's machine: its own HOME (~/.aws/config), `rekey` on PATH, AWS at `endpoint`, and
    no credentials, region or profile in the environment."""
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "REKEY_", "VIRTUAL_ENV", "MOTO_", "PYTHON")) and k not in ("HOME", "PATH")
    }
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(APP_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        AWS_ENDPOINT_URL=endpoint,
        **extra,
    )
    return env


def doc_section(title: str) -> str:
    text = CONSUMERS_DOC.read_text()
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def doc_blocks(title: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a section of docs/consumers.md: (info string, text)."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", doc_section(title), re.M | re.S)]


def doc_block(title: str, language: str, containing: str) -> str:
    (block,) = [text for lang, text in doc_blocks(title) if lang == language and containing in text]
    return block
