"""The `rekey` script: `rekey credential-process` goes straight to its module (the
rekey-aws-credential-process distribution's `rekey_credential_process`), so a consumer's AWS CLI,
which starts it for every command, does not wait for the rest of rekey (boto3, Powertools,
pydantic) to import; every other command goes to `rekey_cli.cli`."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["credential-process"]:
        from rekey_credential_process import main as credential_process

        return credential_process(args[1:])
    from .cli import main as rekey

    return rekey(args)
