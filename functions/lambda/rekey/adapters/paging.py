"""Listings read through botocore's paginators, their AWS errors raised as domain errors."""

from __future__ import annotations

from typing import Any

from .errors import aws_call


def every_page(client: Any, operation: str, what: str, *, page_size: int | None = None, **kwargs: Any) -> list[Any]:
    """Every page of `operation` (the client's method name), one call per page as AWS answers
    (a page may be empty while a token remains). `page_size`: the operation's limit parameter
    (MaxItems, MaxResults) on each call; `what` names the call in a raised error."""
    config = {"PageSize": page_size} if page_size is not None else {}
    with aws_call(what):
        return list(client.get_paginator(operation).paginate(PaginationConfig=config, **kwargs))


def every_item(client: Any, operation: str, key: str, what: str, **kwargs: Any) -> list[Any]:
    """The items under `key` of every page of `operation`."""
    return [item for page in every_page(client, operation, what, **kwargs) for item in page.get(key, [])]
