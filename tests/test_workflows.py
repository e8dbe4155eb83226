"""The GitHub workflows: valid against the published workflow schema, and running what HACS
integrations run (hassfest, HACS validation) plus this project's own test commands."""

from __future__ import annotations

from importlib import metadata
import json
from pathlib import Path
import re
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


class _WorkflowLoader(yaml.SafeLoader):
    """YAML 1.2 booleans only: GitHub reads `on:` as a key, not as true."""


_WorkflowLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WorkflowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_WorkflowLoader)
    assert isinstance(loaded, dict), path
    return loaded


def _workflows() -> dict[str, dict[str, Any]]:
    return {path.name: _load(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


def _steps() -> list[dict[str, Any]]:
    return [
        step
        for workflow in _workflows().values()
        for job in workflow["jobs"].values()
        for step in job["steps"]
    ]


def _schema() -> dict[str, Any]:
    # The schema file only: importing the package would load its command line tool.
    path = metadata.distribution("check-jsonschema").locate_file(
        "check_jsonschema/builtin_schemas/vendor/github-workflows.json"
    )
    schema: dict[str, Any] = json.loads(Path(str(path)).read_text("utf-8"))
    return schema


def test_loader_keeps_on_as_a_key() -> None:
    assert _WorkflowLoader is not None
    assert yaml.load("on: push\nx: false", Loader=_WorkflowLoader) == {
        "on": "push",
        "x": False,
    }


@pytest.mark.parametrize("name", ["validate.yml", "tests.yml"])
def test_workflow_matches_the_schema(name: str) -> None:
    schema = _schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator_class(schema).iter_errors(_load(WORKFLOWS / name))
    ]
    assert errors == []


def test_the_schema_refuses_a_broken_workflow() -> None:
    schema = _schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    broken = _load(WORKFLOWS / "validate.yml")
    broken["jobs"]["hassfest"]["steps"][0]["uses"] = ["not", "a", "string"]
    del broken["jobs"]["hacs"]["runs-on"]
    assert len(list(validator.iter_errors(broken))) >= 2


def test_every_step_has_a_name_and_one_action() -> None:
    for step in _steps():
        assert step.get("name"), step
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[\w.-]+", step["uses"]), step


def test_hassfest_and_hacs_validation() -> None:
    uses = {step["uses"]: step for step in _steps() if "uses" in step}
    assert "home-assistant/actions/hassfest@master" in uses
    assert uses["hacs/action@main"]["with"]["category"] == "integration"
    validate = _workflows()["validate.yml"]
    assert {"push", "pull_request", "schedule"} <= set(validate["on"])


def test_tests_run_the_readme_commands_on_both_versions() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    test_script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    jobs = _workflows()["tests.yml"]["jobs"]
    matrix = jobs["tests"]["strategy"]["matrix"]["include"]
    assert {(row["ha"], row["python"]) for row in matrix} == {
        ("oldest", "3.13"),
        ("latest", "3.14"),
    }
    for row in matrix:
        assert f"  {row['ha']}" in test_script  # a case scripts/test knows
    commands = [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]
    for command in commands:
        script = command.split()[0]
        assert (ROOT / script).is_file(), command
        assert (ROOT / script).stat().st_mode & 0o111, command
        assert script in readme, command
    assert "scripts/lint" in commands
    assert "scripts/test --ha ${{ matrix.ha }}" in commands
    assert "scripts/setup --ha ${{ matrix.ha }}" in commands
