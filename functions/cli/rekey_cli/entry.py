"""The `rekey` script: `rekey credential-process` goes straight to its module (the
rekey-aws-credential-process distribution's `rekey_credential_process`), so a consumer's AWS CLI,
which starts it for every command, does not wait for the rest of rekey (boto3, Powertools,
pydantic) to import; every other command goes to `rekey_cli.cli`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["credential-process"]:
        from rekey_credential_process import main as credential_process

        return credential_process(args[1:])
    try:
        # About half a second of imports (boto3, pydantic, Powertools): a Ctrl-C during them
        # is one line too, not a traceback from inside an import.
        from .cli import main as rekey
    except KeyboardInterrupt:
        return interrupted()
    return rekey(args)


def interrupted() -> int:
    """Ctrl-C, at any point of a command: one line on stderr and EXIT_INTERRUPTED."""
    print("rekey: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED
