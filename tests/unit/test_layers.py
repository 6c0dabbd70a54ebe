"""The house's import directions, held (issue 29): each layer of the Lambda package imports only
the layers below it, boto3 and botocore only where AWS is reached, and nothing of the CLI or the
emulator; the CLI's modules take ports, and only its composition root (rekey_cli.cli) builds
the runtime or touches the adapters. Read from the source with `ast` (every import, those for
type checking and those inside functions included), so a new upward arrow fails here before
anyone has to notice it in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
PACKAGE = FUNCTIONS / "lambda" / "rekey"
CLI = FUNCTIONS / "cli" / "rekey_cli"

# What each layer may import of rekey (besides itself). Lowest first.
MAY_IMPORT: dict[str, set[str]] = {
    "domain": set(),
    "messages": {"domain"},
    "settings": {"domain"},
    "ports": {"domain", "messages", "settings"},
    "adapters": {"domain", "messages"},
    "digest": {"domain", "messages"},
    "use_cases": {"domain", "messages", "ports", "settings", "digest"},
    # The composition root, and what only the handlers use.
    "runtime": {"domain", "messages", "ports", "settings", "adapters"},
    "metrics": {"domain", "messages", "use_cases"},
    "handlers": {"domain", "messages", "ports", "settings", "use_cases", "runtime", "metrics"},
}
# Only these reach AWS's SDK.
SDK = ("boto3", "botocore")
MAY_USE_SDK = {"adapters", "runtime"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rekey"


def imports(path: Path, root: Path | None = None) -> list[str]:
    """Every module `path` imports, absolute; `root` holds its top package (rekey's by default)."""
    module = ".".join(path.relative_to(root or PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                if node.module:
                    found.append(".".join([*base, node.module]))
                else:  # `from . import a, b`: modules of that package
                    found += [".".join([*base, alias.name]) for alias in node.names]
            else:
                found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def may_import(layer: str, allowed: set[str], target: str) -> bool:
    top = target.split(".")[0]
    if top in ("rekey_cli", "rekey_dev", "tests", "bench"):
        return False
    if top in SDK:
        return layer in MAY_USE_SDK
    return top != "rekey" or target == "rekey" or layer_of(target) in allowed


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_the_layers_below_it(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if layer == "__init__":
        return
    allowed = MAY_IMPORT[layer] | {layer}
    wrong = [target for target in imports(path) if not may_import(layer, allowed, target)]
    assert not wrong, f"{layer} may import only {sorted(allowed)} of rekey (and the SDK: {layer in MAY_USE_SDK})"


def test_the_contract_knows_every_layer() -> None:
    layers = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES} - {"__init__"}
    assert layers == set(MAY_IMPORT)


def test_the_check_finds_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself can fail: a domain module importing an adapter is caught."""
    domain = tmp_path / "rekey" / "domain"
    domain.mkdir(parents=True)
    bad = domain / "bad.py"
    bad.write_text("from ..adapters.iam import IamAdapter\nimport boto3\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", tmp_path / "rekey")
    assert imports(bad) == ["rekey.adapters.iam", "boto3"]
    with pytest.raises(AssertionError, match="domain may import only"):
        test_each_module_imports_only_the_layers_below_it(bad)


# --------------------------------------------------------------------------- the CLI (rekey_cli)

# Each module of the CLI and its layer. Lowest first: pure shapes and functions; the operators'
# Protocols; the use cases on ports (and the hub's requests and answers); their renderings; the
# commands; the adapters (the SDK, for the hub's endpoint and the work queue's drain); the
# composition root; the script's entry.
CLI_LAYERS = {
    "arguments": "pure",
    "forecast": "pure",
    "formats": "pure",
    "progress": "pure",
    "ports": "ports",
    "inventory": "use_cases",
    "plan": "use_cases",
    "compliance": "use_cases",
    "hub_requests": "use_cases",
    "advice": "use_cases",
    "render_plan": "render",
    "render_report": "render",
    "render_html": "render",
    "render_advice": "render",
    "operations_cli": "commands",
    "advise_cli": "commands",
    "hub_endpoint": "adapters",
    "sqs_source": "adapters",
    "trail_bucket": "adapters",
    "cli": "root",
    "entry": "entry",
    "__main__": "entry",
}
ANY = {"*"}
# What each CLI layer may import: (its own layers, rekey's layers). The composition root alone
# reaches rekey.runtime, rekey.adapters, rekey.handlers and rekey.metrics.
CLI_MAY_IMPORT: dict[str, tuple[set[str], set[str]]] = {
    "pure": ({"pure"}, {"domain"}),
    "ports": (set(), {"domain", "messages", "ports", "settings"}),
    "use_cases": ({"pure", "ports", "use_cases"}, {"domain", "messages", "ports", "settings", "use_cases"}),
    "render": ({"pure", "use_cases", "render"}, {"domain"}),
    "commands": ({"pure", "ports", "use_cases", "render"}, {"domain", "messages", "ports", "settings", "use_cases"}),
    "adapters": (set(), {"domain", "messages"}),
    "root": (ANY, ANY),
    "entry": ({"root", "entry"}, set()),
}
CLI_MAY_USE_SDK = {"adapters", "root"}
# `rekey credential-process` is the consumers' stand-alone distribution (functions/consumer,
# which imports nothing of rekey: tests/unit/test_consumer.py): only the root and the entry run it.
CONSUMER = "rekey_credential_process"
CLI_MAY_RUN_CONSUMER = {"root", "entry"}
NEVER = ("rekey_dev", "tests", "bench")  # the demo is an entry point (`rekey.commands`), never imported


def cli_may_import(layer: str, target: str) -> bool:
    own, core = CLI_MAY_IMPORT[layer]
    top = target.split(".")[0]
    if top in NEVER:
        return False
    if top in SDK:
        return layer in CLI_MAY_USE_SDK
    if top == CONSUMER:
        return layer in CLI_MAY_RUN_CONSUMER
    if top == "rekey_cli":
        module = target.split(".")[1] if "." in target else ""
        return own == ANY or CLI_LAYERS.get(module) in own
    return top != "rekey" or core == ANY or layer_of(target) in core


CLI_MODULES = sorted(CLI.glob("*.py"))


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: p.name)
def test_each_cli_module_imports_only_what_its_layer_may(path: Path) -> None:
    layer = CLI_LAYERS[path.stem]
    wrong = [target for target in imports(path, path.parents[1]) if not cli_may_import(layer, target)]
    own, core = CLI_MAY_IMPORT[layer]
    assert not wrong, (
        f"rekey_cli.{path.stem} ({layer}) may import of rekey_cli {sorted(own)}, of rekey {sorted(core)} "
        f"(and the SDK: {layer in CLI_MAY_USE_SDK}); it imports {wrong}"
    )


def test_the_cli_contract_knows_every_module() -> None:
    assert {p.stem for p in CLI_MODULES} == set(CLI_LAYERS)
    assert set(CLI_LAYERS.values()) == set(CLI_MAY_IMPORT)


def test_the_composition_root_is_the_only_cli_module_that_builds_the_runtime() -> None:
    wiring = ("rekey.runtime", "rekey.adapters")
    builders = {p.stem for p in CLI_MODULES if any(t.startswith(wiring) for t in imports(p, CLI.parent))}
    assert builders == {"cli"}


@pytest.mark.parametrize(
    ("module", "source", "wrong"),
    [
        ("plan", "from rekey.runtime import Runtime\n", "rekey.runtime"),
        ("compliance", "from rekey.adapters.sts import StsAdapter\n", "rekey.adapters.sts"),
        ("operations_cli", "from . import cli\n", "rekey_cli.cli"),
        ("forecast", "from .inventory import inventory\n", "rekey_cli.inventory"),
        ("inventory", "import boto3\n", "boto3"),
        ("cli", "from rekey_dev import demo\n", "rekey_dev"),
        ("entry", "def late():\n    from rekey.runtime import Runtime\n", "rekey.runtime"),
    ],
)
def test_the_cli_check_finds_an_upward_import(tmp_path: Path, module: str, source: str, wrong: str) -> None:
    """The check itself can fail: each of these arrows is caught, whatever the module's layer."""
    bad = tmp_path / "rekey_cli" / f"{module}.py"
    bad.parent.mkdir()
    bad.write_text(source)
    assert imports(bad, tmp_path) == [wrong]
    with pytest.raises(AssertionError, match=rf"rekey_cli\.{module} \({CLI_LAYERS[module]}\) may import"):
        test_each_cli_module_imports_only_what_its_layer_may(bad)


# --------------------------------------------------------------------------- sizes a reader can hold

MAX_CLASS_LINES = 200
MAX_HANDLER_CODE_LINES = 50


def code_lines(source: str) -> int:
    """Lines of code: neither blank, nor comments, nor docstrings."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def test_no_class_of_the_lambda_package_is_over_200_lines() -> None:
    big = {
        f"{path.relative_to(PACKAGE)}:{node.name}": (node.end_lineno or node.lineno) - node.lineno + 1
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_CLASS_LINES
    }
    assert not big, f"classes over {MAX_CLASS_LINES} lines (split them by what they are for): {big}"


def test_each_handler_is_a_lambdas_plumbing_over_one_use_case() -> None:
    long = {
        path.name: lines
        for path in (PACKAGE / "handlers").glob("*.py")
        if (lines := code_lines(path.read_text())) > MAX_HANDLER_CODE_LINES
    }
    assert not long, f"handlers over {MAX_HANDLER_CODE_LINES} lines of code (move the logic to a use case): {long}"


def test_code_lines_leave_out_docstrings_comments_and_blanks() -> None:
    source = '"""Module."""\n\n# a comment\ndef f() -> int:\n    """Doc\n    on two lines."""\n    return 1\n'
    assert code_lines(source) == 2
