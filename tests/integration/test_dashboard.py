"""The hub's dashboard and alarms watch the metrics the functions really publish."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rekey_dev import emulator as em

from rekey.metrics import NAMESPACE, SERVICE, Metric
from tests.integration.test_templates import FUNCTIONS, hub_stack, translated_hub  # noqa: F401 - the fixture

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto skips alarms


def test_the_dashboard_shows_every_rekey_metric_the_dlqs_and_every_function(
    emulator: em.Emulator,
    hub_stack: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    cloudwatch = emulator.client("cloudwatch")
    (dashboard,) = cloudwatch.list_dashboards()["DashboardEntries"]
    assert dashboard["DashboardName"] == hub_stack["DashboardName"]
    body = json.loads(cloudwatch.get_dashboard(DashboardName=dashboard["DashboardName"])["DashboardBody"])
    lines = [line for w in body["widgets"] if w["type"] == "metric" for line in expand(w["properties"]["metrics"])]
    assert {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"} == {em.REGION}
    shown = {(line[0], line[1]) for line in lines}
    dimensions = {tuple(line[2:]) for line in lines if line[0] == NAMESPACE}
    functions = {line[3] for line in lines if line[:3] == ["AWS/Lambda", "Errors", "FunctionName"]}
    assert {(NAMESPACE, m.value) for m in Metric} <= shown
    assert dimensions == {("service", SERVICE)}  # the only dimension the functions publish
    names = {f["FunctionName"] for f in emulator.client("lambda").list_functions()["Functions"]}
    assert functions == names and len(names) == len(FUNCTIONS)


def expand(metrics: list[list[Any]]) -> list[list[str]]:
    """CloudWatch's shorthand: "." repeats the line above's value there, "..." all of it but
    the last values given."""
    lines: list[list[str]] = []
    for raw in metrics:
        values = [v for v in raw if isinstance(v, str)]  # a trailing {...} holds rendering options
        if values[0] == "...":
            values = lines[-1][: len(lines[-1]) - (len(values) - 1)] + values[1:]
        else:
            values = [lines[-1][i] if v == "." else v for i, v in enumerate(values)]
        lines.append(values)
    return lines


def test_alarms_fire_on_unreachable_accounts_and_dead_lettered_items() -> None:
    resources: dict[str, Any] = translated_hub()["Resources"]
    alarms = {
        r["Properties"]["MetricName"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == NAMESPACE
    }
    assert set(alarms) == {Metric.ACCOUNTS_UNREACHABLE.value, Metric.WORK_ITEMS_DEAD_LETTERED.value}
    for alarm in alarms.values():
        # The very dimensions the functions publish with, or the alarm would watch an empty metric.
        assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
        assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"  # a quiet hour publishes nothing
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
