"""Offline infrastructure checks: Terraform roots, checkov, GitHub workflows, secrets table.

The work is done by tests/infra/tfcheck.py (also `hatch run tf:check`); these tests run it
once per session (terraform roots in parallel threads, checkov beside them) and assert per root,
so a failure names the module or environment.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.infra import tfcheck

pytestmark = pytest.mark.infra

REPO = tfcheck.REPO
ROOTS = tfcheck.roots()
MODULES = [r for r in ROOTS if r.startswith("modules/")]
T = TypeVar("T")


def _require(tool: Callable[[], T]) -> T:
    """The tool, or: fail under CI (a missing tool is a broken CI), skip on a workstation."""
    try:
        return tool()
    except tfcheck.ToolMissingError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI is set: the infrastructure checks must run)")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def side_pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


@pytest.fixture(scope="session")
def checkov_report(
    side_pool: concurrent.futures.ThreadPoolExecutor,
) -> concurrent.futures.Future[tfcheck.CheckovResult]:
    _require(tfcheck.checkov_executable)
    return side_pool.submit(tfcheck.run_checkov)


@pytest.fixture(scope="session")
def root_results(
    checkov_report: concurrent.futures.Future[tfcheck.CheckovResult],
) -> dict[str, tfcheck.RootResult]:
    # checkov_report first: the scan runs while terraform works through the roots.
    _require(tfcheck.terraform)
    return {r.root: r for r in tfcheck.check_all_roots()}


# --- Terraform ---------------------------------------------------------------------------------


def test_terraform_fmt() -> None:
    _require(tfcheck.terraform)
    ok, output = tfcheck.fmt_check()
    assert ok, f"run `terraform fmt -recursive modules envs`; unformatted:\n{output}"


@pytest.mark.parametrize("root", ROOTS)
def test_root_validates_and_its_tests_pass(
    root: str, root_results: dict[str, tfcheck.RootResult]
) -> None:
    result = root_results[root]
    assert result.ok, f"terraform {result.step} failed in {root}:\n{result.output[-6000:]}"
    assert result.tests_failed == 0
    assert result.tests_passed > 0, f"{root} has no terraform test run"


@pytest.mark.parametrize("module", MODULES)
def test_module_layout(module: str) -> None:
    folder = REPO / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (folder / name).is_file(), f"{module} lacks {name}"
    assert list(folder.glob("tests/*.tftest.hcl")), f"{module} has no tests/*.tftest.hcl"
    source = "\n".join(p.read_text() for p in folder.glob("*.tf"))
    assert not re.search(r'^provider\s+"', source, re.M), "modules must not configure providers"
    blocks = re.split(r'^variable\s+"', (folder / "variables.tf").read_text(), flags=re.M)[1:]
    for block in blocks:
        name = block.split('"', 1)[0]
        assert re.search(r"^\s+type\s+=", block, re.M), f"{module}: variable {name} has no type"
        assert re.search(r"^\s+description\s+=", block, re.M), f"{module}: {name} undescribed"


ENVS = [r for r in ROOTS if r.startswith("envs/")]
COMPOSITION = "modules/aircast"
# Declarations of the TF_VAR_* inputs and the outputs are most of a root (~190 lines); a root that
# grows well past that holds logic that belongs in the composition module.
THIN_ROOT_MAX_LINES = 300


def _blocks(source: str, kind: str) -> list[str]:
    """Labels of the top-level blocks of one kind (resource "a" "b" -> 'a.b')."""
    pattern = rf'^{kind}((?:\s+"[^"]+")*)\s*\{{'
    return [".".join(re.findall(r'"([^"]+)"', m)) for m in re.findall(pattern, source, re.M)]


def test_there_are_environments_and_a_composition_module() -> None:
    assert {"envs/dev", "envs/prod"} <= set(ENVS)
    assert COMPOSITION in MODULES


@pytest.mark.parametrize("env", ENVS)
def test_environment_is_a_thin_root_over_the_composition_module(env: str) -> None:
    folder = REPO / env
    files = {p.name for p in folder.iterdir() if p.is_file()}
    assert files == {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "terraform.tfvars"}, (
        f"{env}: unexpected files {sorted(files)}; logic belongs in {COMPOSITION}"
    )
    source = "\n".join(p.read_text() for p in sorted(folder.glob("*.tf")))
    assert _blocks(source, "resource") == [], f"{env} declares resources: move to {COMPOSITION}"
    assert _blocks(source, "data") == [], f"{env} reads data sources: move them to {COMPOSITION}"
    assert _blocks(source, "locals") == [], f"{env} computes locals: move them to {COMPOSITION}"
    assert _blocks(source, "module") == ["aircast"], f"{env} must call exactly module aircast"
    assert re.search(r'source\s*=\s*"\.\./\.\./modules/aircast"', source)
    assert _blocks(source, "provider") == ["aws"]
    # Outputs pass the composition's through; they do not compute.
    for body in re.split(r'^output\s+"', (folder / "outputs.tf").read_text(), flags=re.M)[1:]:
        value = re.search(r"^\s+value\s+=\s+(.+)$", body, re.M)
        assert value, body
        assert re.fullmatch(r"module\.aircast\.\w+", value.group(1).strip()), body
    lines = sum(len(p.read_text().splitlines()) for p in folder.glob("*.tf"))
    assert lines <= THIN_ROOT_MAX_LINES, f"{env} has {lines} lines of .tf: it is not thin any more"
    assert list(folder.glob("tests/*.tftest.hcl")), f"{env} has no terraform test of its settings"


def test_environments_take_the_same_inputs_and_give_the_same_outputs() -> None:
    """The workflow feeds every environment the same TF_VAR_* and reads the same outputs."""

    def interface(env: str) -> tuple[list[str], list[str]]:
        folder = REPO / env
        return (
            _blocks((folder / "variables.tf").read_text(), "variable"),
            _blocks((folder / "outputs.tf").read_text(), "output"),
        )

    first, *others = ENVS
    for env in others:
        assert interface(env) == interface(first), f"{env} and {first} differ in inputs or outputs"
    versions = {(REPO / env / "versions.tf").read_text() for env in ENVS}
    assert len(versions) == 1, "the environments' versions.tf (providers, backend) differ"


@pytest.mark.parametrize("env", ENVS)
def test_every_root_variable_reaches_the_composition(env: str) -> None:
    folder = REPO / env
    used = (folder / "main.tf").read_text()
    for name in _blocks((folder / "variables.tf").read_text(), "variable"):
        assert re.search(rf"\bvar\.{name}\b", used), f"{env}: variable {name} is never used"


@pytest.mark.parametrize("env", ENVS)
def test_backend_is_s3_with_native_locking(env: str) -> None:
    versions = (REPO / env / "versions.tf").read_text()
    backend = re.search(r'backend\s+"s3"\s*\{(.*?)\n  \}', versions, re.S)
    assert backend, "envs must use the S3 backend"
    assert re.search(r"use_lockfile\s*=\s*true", backend.group(1))
    # bucket/key/region come from -backend-config at init, never from the repository.
    assert not re.search(r"^\s*(bucket|key|region)\s*=", backend.group(1), re.M)


# --- checkov -------------------------------------------------------------------------------------


def test_checkov_has_no_failure_and_every_skip_has_a_reason(
    checkov_report: concurrent.futures.Future[tfcheck.CheckovResult],
) -> None:
    report = checkov_report.result()
    assert "terraform" in report.frameworks
    if list(REPO.glob("components/*/Dockerfile")):
        assert "dockerfile" in report.frameworks
    if WORKFLOWS:
        assert "github_actions" in report.frameworks
    assert report.passed > 0
    failed = [f"{f['id']} {f['resource']} ({f['file']}): {f['name']}" for f in report.failed]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    unexplained = [f"{s['id']} {s['resource']}" for s in report.skipped if not s["reason"]]
    assert not unexplained, f"checkov skips without a written reason: {unexplained}"


# --- GitHub workflows ---------------------------------------------------------------------------

WORKFLOWS = tfcheck.workflows()


def test_expected_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "terraform.yml", "deploy.yml"} <= names


def test_workflows_match_the_github_schema() -> None:
    ok, output = tfcheck.check_jsonschema(WORKFLOWS)
    assert ok, output


def test_workflows_pass_actionlint() -> None:
    findings = _require(lambda: tfcheck.run_actionlint(WORKFLOWS))
    lines = [f"{f['file']}:{f['line']}: {f['message']}" for f in findings]
    assert not lines, "actionlint:\n" + "\n".join(lines)


def _referenced(context: str) -> set[str]:
    pattern = re.compile(rf"\b{context}\.([A-Za-z_][A-Za-z0-9_]*)")
    found = {m for p in WORKFLOWS for m in pattern.findall(p.read_text())}
    found.discard("GITHUB_TOKEN")  # provided by GitHub, not configured by the repository
    return found


def _secrets_table() -> dict[str, str]:
    """Name -> kind (secret or variable) from docs/infrastructure.md's table after
    `<!-- secrets-table -->`."""
    marker = "<!-- secrets-table -->"
    text = (REPO / "docs" / "infrastructure.md").read_text().split(marker, 1)[1]
    table: dict[str, str] = {}
    for line in text.lstrip().splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.fullmatch(r"`([A-Za-z0-9_]+)`", cells[0])
        if name:
            table[name.group(1)] = cells[1].lower()
    assert table, f"no secrets table after {marker} in docs/infrastructure.md"
    return table


def test_workflow_secrets_are_exactly_the_documented_ones() -> None:
    table = _secrets_table()
    documented_secrets = {n for n, kind in table.items() if kind == "secret"}
    documented_vars = {n for n, kind in table.items() if kind == "variable"}
    assert _referenced("secrets") == documented_secrets
    assert _referenced("vars") == documented_vars


@pytest.mark.parametrize("env", ENVS)
def test_every_tf_var_secret_feeds_a_terraform_variable(env: str) -> None:
    variables = set(_blocks((REPO / env / "variables.tf").read_text(), "variable"))
    # Terraform silently ignores TF_VAR_<name> without a variable <name>: a typo loses a secret.
    for secret in _referenced("secrets"):
        if secret.startswith("TF_VAR_"):
            assert secret.removeprefix("TF_VAR_") in variables, f"{secret} feeds no variable"
    for workflow in WORKFLOWS:
        for env_name in re.findall(r"^\s+(TF_VAR_[A-Za-z0-9_]+):", workflow.read_text(), re.M):
            assert env_name.removeprefix("TF_VAR_") in variables, f"{workflow.name}: {env_name}"


@pytest.mark.parametrize("root", [*ENVS, COMPOSITION])
def test_credentials_reach_terraform_only_as_ephemeral_variables(root: str) -> None:
    source = (REPO / root / "variables.tf").read_text()
    blocks = re.split(r'^variable\s+"', source, flags=re.M)[1:]
    credential = re.compile(r"PASSWORD|API_KEY|CONNECTION_URL|^credentials$", re.I)
    checked = 0
    for block in blocks:
        var = block.split('"', 1)[0]
        if credential.search(var):
            checked += 1
            assert re.search(r"ephemeral\s*=\s*true", block), f"{root}: {var} must be ephemeral"
            assert re.search(r"sensitive\s*=\s*true", block), f"{root}: {var} must be sensitive"
    assert checked, f"{root} declares no credential variable: the pattern is out of date"


# --- The driver itself --------------------------------------------------------------------------


def test_missing_terraform_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="terraform is not on PATH"):
        _require(tfcheck.terraform)


def test_provider_mirror_is_found_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "plugins"
    binary = mirror.joinpath(
        *tfcheck.PROVIDER_PATH, "5.100.0", "linux_amd64", "terraform-provider-aws_v5.100.0_x5"
    )
    binary.parent.mkdir(parents=True)
    binary.touch()
    assert tfcheck._mirror_root(binary) == mirror
    monkeypatch.setenv("AIRCAST_TF_PLUGIN_DIR", str(mirror))
    assert tfcheck.find_provider_mirror() == mirror
    env = tfcheck.terraform_env(tmp_path)
    config = Path(env["TF_CLI_CONFIG_FILE"]).read_text()
    assert f'path    = "{mirror}"' in config
    assert "direct" in config


def test_checkov_json_documents_are_all_read() -> None:
    text = '[{"check_type": "terraform"}]\n{"check_type": "dockerfile"}\n'
    assert [d["check_type"] for d in tfcheck._json_documents(text)] == ["terraform", "dockerfile"]
