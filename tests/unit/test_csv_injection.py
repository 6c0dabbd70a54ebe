"""CSV cells a spreadsheet would run as a formula are neutralised (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io

import pytest
from rekey_cli.formats import csv_cell, csv_table


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x","y")', "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_formula_is_shown_not_run(text: str) -> None:
    assert csv_cell(text) == f"'{text}"


@pytest.mark.parametrize("value", ["svc-app", "a=b", "team-payments", "2026-11-28"])
def test_plain_text_is_kept(value: str) -> None:
    assert csv_cell(value) == value


def test_numbers_and_empty_cells() -> None:
    assert [csv_cell(v) for v in (-3, 0, 2.5, True, None)] == [-3, 0, 2.5, True, ""]


def test_every_text_cell_is_quoted_so_a_separator_inside_cannot_start_a_cell() -> None:
    text = csv_table(["name", "days"], [["acme;=1+2", -3], ["=1+2", 4]])
    assert text.splitlines() == ['"name","days"', '"acme;=1+2",-3', '"\'=1+2",4']
    assert list(csv.reader(io.StringIO(text)))[1:] == [["acme;=1+2", "-3"], ["'=1+2", "4"]]
