"""The house's import directions, held (issue 29): each layer of the Lambda package imports only
the layers below it, boto3 and botocore only where AWS is reached, and nothing of the CLI or the
emulator. Read from the source with `ast` (every import, those for type checking included), so
a new upward arrow fails here before anyone has to notice it in review. The CLI's own contract
comes with its move onto ports (issue 29, part 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "lambda" / "rekey"

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


def imports(path: Path) -> list[str]:
    """Every module `path` imports, absolute."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append(".".join([*base, *([node.module] if node.module else [])]))
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
