"""What `pip install .` gives (the distribution rekey-aws): the `rekey` CLI, the demo only with the
`local` extra (one line saying so otherwise), and the templates the demo deploys, for an
installed rekey too; `rekey credential-process` through its own distribution, a dependency
(installed alone: tests/e2e/test_credential_process_alone.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run the CLI as if moto and PyYAML (the `local` extra) were not installed.
WITHOUT_LOCAL_EXTRA = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('moto', 'yaml'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
from rekey_cli.entry import main
sys.exit(main(sys.argv[1:]))
"""


def rekey_without_local_extra(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_LOCAL_EXTRA, *argv], capture_output=True, text=True, check=False, timeout=60
    )


def test_without_the_local_extra_the_cli_works_and_the_demo_says_how_to_get_it() -> None:
    helped = rekey_without_local_extra("--help")
    assert helped.returncode == 0 and "credential-process" in helped.stdout and "demo" in helped.stdout
    demo = rekey_without_local_extra("demo")
    assert demo.returncode == 2
    assert demo.stderr.count("\n") == 1 and "Traceback" not in demo.stderr
    assert "pip install 'rekey-aws[local]'" in demo.stderr


def build_wheel(project: Path, out: Path, *sources: str) -> None:
    """Build the wheel of `project` from a copy of its `sources`: pip builds in the source tree,
    and setuptools never empties its build/ directory, so a module moved away since a build
    would still ship (and the build would litter the clone)."""
    copy = out / "src"
    artifacts = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    for name in sources:
        if (project / name).is_dir():
            shutil.copytree(project / name, copy / name, ignore=artifacts)
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / name, copy / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(copy)],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    build_wheel(ROOT, out, "pyproject.toml", "README.md", "functions", "hub", "spoke_templates")
    (built,) = out.glob("rekey_aws-*.whl")  # the distribution `rekey-aws`
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_three_packages_the_cli_and_the_demos_templates(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in ("rekey/handlers/worker.py", "rekey_cli/cli.py", "rekey_cli/entry.py", "rekey_dev/demo.py"):
        assert module in names, module
    # `rekey credential-process` is a dependency's (functions/consumer), not a copy in this wheel.
    assert not any("credential_process" in n or n.endswith("consumer.py") for n in names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    data = {n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n}
    assert {"share/rekey/hub/template.yaml", "share/rekey/spoke_templates/spoke-role.yaml"} <= data
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "rekey = rekey_cli.entry:main" in text and "demo = rekey_dev.demo" in text


def test_it_requires_the_credential_process_distribution_at_its_own_version(wheel: zipfile.ZipFile) -> None:
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [line for line in wheel.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    with (ROOT / "functions" / "consumer" / "pyproject.toml").open("rb") as handle:
        consumer = tomllib.load(handle)["project"]
    assert f"Requires-Dist: {consumer['name']}=={consumer['version']}" in requires
