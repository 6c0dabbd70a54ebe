"""The argparse shape every `rekey` subcommand shares, and the argument types of several."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date
from typing import Any, NoReturn

from rekey.domain.errors import UsageError
from rekey.domain.scope import parse_day


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line like every other failure of `rekey`: a
    UsageError naming the subcommand, what is wrong and where its usage is (exit 2 in
    rekey_cli.cli.main), instead of the usage and the error on two lines. Its subcommands'
    parsers are of this class too (argparse makes them of the parent's)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("rekey").strip()
        raise UsageError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


def add_command(
    sub: Any, name: str, *, summary: str, description: str, examples: Sequence[str]
) -> argparse.ArgumentParser:
    """A subcommand: its line in `rekey --help`, its own --help with the description and
    examples, laid out as written."""
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=("example:" if len(examples) == 1 else "examples:") + "".join(f"\n  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def day(value: str) -> date:
    """A YYYY-MM-DD argument."""
    try:
        return parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def days(value: str) -> int:
    """A number of days from 1 to 3660."""
    if not value.isdigit() or not 1 <= int(value) <= 3660:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days from 1 to 3660")
    return int(value)
