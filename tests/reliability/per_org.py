"""What the labs of one emulated organization share (a fake service, a function URL): built by
the first lab that needs it, kept on the organization until the emulator's next reset."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tests.conftest import Org

T = TypeVar("T")


def per_org(org: Org, name: str, build: Callable[[Org], T]) -> T:
    """The organization's `name`, built with `build` the first time."""
    if name not in org.__dict__:
        org.__dict__[name] = build(org)
    return org.__dict__[name]  # type: ignore[no-any-return]
