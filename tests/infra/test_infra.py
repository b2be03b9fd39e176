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


def test_environments_differ_only_in_variables() -> None:
    dev, prod = REPO / "envs" / "dev", REPO / "envs" / "prod"
    shared = sorted(p.name for p in dev.glob("*.tf"))
    assert shared == sorted(p.name for p in prod.glob("*.tf"))
    for name in [*shared, "tests/stack.tftest.hcl", "tests/mocks/aws.tfmock.hcl"]:
        assert (dev / name).read_text() == (prod / name).read_text(), (
            f"envs/dev/{name} and envs/prod/{name} differ: put the difference in terraform.tfvars"
        )
    assert (dev / "terraform.tfvars").read_text() != (prod / "terraform.tfvars").read_text()


def test_backend_is_s3_with_native_locking() -> None:
    versions = (REPO / "envs" / "dev" / "versions.tf").read_text()
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
    """Name -> kind (secret or variable) from the README's table after `<!-- secrets-table -->`."""
    marker = "<!-- secrets-table -->"
    text = (REPO / "README.md").read_text().split(marker, 1)[1]
    table: dict[str, str] = {}
    for line in text.lstrip().splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.fullmatch(r"`([A-Za-z0-9_]+)`", cells[0])
        if name:
            table[name.group(1)] = cells[1].lower()
    assert table, f"no secrets table after {marker} in README.md"
    return table


def test_workflow_secrets_are_exactly_the_documented_ones() -> None:
    table = _secrets_table()
    documented_secrets = {n for n, kind in table.items() if kind == "secret"}
    documented_vars = {n for n, kind in table.items() if kind == "variable"}
    assert _referenced("secrets") == documented_secrets
    assert _referenced("vars") == documented_vars


def test_every_tf_var_secret_feeds_a_terraform_variable() -> None:
    variables = set(
        re.findall(r'^variable\s+"([^"]+)"', (REPO / "envs/dev/variables.tf").read_text(), re.M)
    )
    # Terraform silently ignores TF_VAR_<name> without a variable <name>: a typo loses a secret.
    for secret in _referenced("secrets"):
        if secret.startswith("TF_VAR_"):
            assert secret.removeprefix("TF_VAR_") in variables, f"{secret} feeds no variable"
    for workflow in WORKFLOWS:
        for env_name in re.findall(r"^\s+(TF_VAR_[A-Za-z0-9_]+):", workflow.read_text(), re.M):
            assert env_name.removeprefix("TF_VAR_") in variables, f"{workflow.name}: {env_name}"


def test_credentials_reach_terraform_only_as_ephemeral_variables() -> None:
    source = (REPO / "envs/dev/variables.tf").read_text()
    for name in ("PASSWORD", "API_KEY", "CONNECTION_URL", "API_KEYS"):
        for block in re.split(r'^variable\s+"', source, flags=re.M)[1:]:
            var = block.split('"', 1)[0]
            if var.isupper() and name in var:
                assert re.search(r"ephemeral\s*=\s*true", block), f"{var} must be ephemeral"
                assert re.search(r"sensitive\s*=\s*true", block), f"{var} must be sensitive"


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
