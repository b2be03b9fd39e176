"""Resolve every image component's dependencies into hashed lock files (`hatch run lock`).

One lock per component and CPU architecture, for CPython 3.11 on glibc 2.36 (Debian bookworm,
the base of every image): `components/<c>/requirements-linux-<arch>.lock`. Local workspace
packages (aircast-core, aircast-api) are not in the lock: their third-party requirements are
merged in (the union) and the packages themselves are built from source and installed with
`--no-deps` by build/install-component.sh. The build tools that script needs (uv, hatchling)
get their own lock, build/build-tools-linux-<arch>.lock.

Each lock's header records a sha256 of its inputs (requirement list, Python, platform), so a
test can tell without network that a pyproject.toml changed and its lock was not regenerated.

Usage: python build/lock.py            regenerate every lock
       python build/lock.py --check    exit 1 naming each stale lock (no network)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.11"
# Debian bookworm ships glibc 2.36: wheels up to manylinux_2_36 install in the images.
ARCHES = {"x86_64": "x86_64-manylinux_2_36", "aarch64": "aarch64-manylinux_2_36"}
# Components that ship as an image, each locked from its own pyproject.toml.
IMAGE_COMPONENTS = ("api", "mage", "mlflow")
LOCK_FORMAT = 1
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?(.*)$")


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockInputs:
    """Everything a lock is resolved from; its digest goes into the lock header."""

    requirements: tuple[str, ...]
    local_packages: tuple[str, ...]
    arch: str

    def digest(self) -> str:
        payload = {
            "format": LOCK_FORMAT,
            "python": PYTHON_VERSION,
            "platform": ARCHES[self.arch],
            "requirements": list(self.requirements),
            "local_packages": list(self.local_packages),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def workspace_packages(root: Path = ROOT) -> dict[str, Path]:
    """Map each local component's normalised project name to its directory."""
    packages = {}
    for manifest in sorted((root / "components").glob("*/pyproject.toml")):
        project = tomllib.loads(manifest.read_text())["project"]
        packages[normalize(project["name"])] = manifest.parent
    return packages


def _third_party(
    component_dir: Path, extras: set[str], local: dict[str, Path], seen: list[Path]
) -> set[str]:
    project = tomllib.loads((component_dir / "pyproject.toml").read_text())["project"]
    deps = list(project.get("dependencies", []))
    for extra in sorted(extras):
        deps += project.get("optional-dependencies", {}).get(extra, [])
    found: set[str] = set()
    for dep in deps:
        match = _NAME.match(dep)
        if match is None:
            raise ValueError(f"{component_dir}/pyproject.toml: cannot parse requirement {dep!r}")
        name = normalize(match.group(1))
        if name in local:
            sub_extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
            if local[name] not in seen:
                seen.append(local[name])
            found |= _third_party(local[name], sub_extras, local, seen)
        else:
            found.add(" ".join(dep.split()))
    return found


def component_inputs(component: str, arch: str, root: Path = ROOT) -> LockInputs:
    """The lock inputs of one image component: third-party requirements, local packages."""
    local = workspace_packages(root)
    component_dir = root / "components" / component
    seen: list[Path] = []
    requirements = _third_party(component_dir, set(), local, seen)
    # The component itself is installed from source when it is a library (api); the mage and
    # mlflow manifests only exist to be locked.
    project = tomllib.loads((component_dir / "pyproject.toml").read_text())
    is_library = (
        not project.get("tool", {})
        .get("hatch", {})
        .get("build", {})
        .get("targets", {})
        .get("wheel", {})
        .get("bypass-selection", False)
    )
    if is_library:
        seen.append(component_dir)
    local_packages = tuple(p.relative_to(root).as_posix() for p in seen)
    return LockInputs(tuple(sorted(requirements)), local_packages, arch)


def build_tools_inputs(arch: str, root: Path = ROOT) -> LockInputs:
    """The lock inputs of the build tools (uv, hatchling) used inside the image builder."""
    text = (root / "build" / "build-tools.in").read_text()
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return LockInputs(tuple(sorted(line for line in lines if line)), (), arch)


def lock_path(component: str, arch: str, root: Path = ROOT) -> Path:
    """Where the lock of `component` ("build-tools" for the builder's tools) lives."""
    if component == "build-tools":
        return root / "build" / f"build-tools-linux-{arch}.lock"
    return root / "components" / component / f"requirements-linux-{arch}.lock"


def all_locks(root: Path = ROOT) -> list[tuple[Path, LockInputs]]:
    """Every lock of the repository with the inputs it must have been resolved from."""
    locks = []
    for arch in ARCHES:
        locks.append((lock_path("build-tools", arch, root), build_tools_inputs(arch, root)))
        for component in IMAGE_COMPONENTS:
            inputs = component_inputs(component, arch, root)
            locks.append((lock_path(component, arch, root), inputs))
    return locks


def header_digest(lock: Path) -> str | None:
    """The input digest a lock file was generated from, or None if it has no header."""
    if not lock.exists():
        return None
    for line in lock.read_text().splitlines():
        if line.startswith("# input-sha256: "):
            return line.removeprefix("# input-sha256: ").strip()
    return None


def stale_locks(root: Path = ROOT) -> list[Path]:
    """Locks that are missing or whose recorded inputs differ from the manifests now."""
    return [lock for lock, inputs in all_locks(root) if header_digest(lock) != inputs.digest()]


def compile_lock(lock: Path, inputs: LockInputs) -> None:
    """Resolve `inputs` with uv into `lock`, with hashes, and write the header."""
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv not found on PATH: install it with `pip install uv`")
    with tempfile.TemporaryDirectory() as tmp:
        # Named and resolved relative to the temp dir so "# via -r" annotations carry no path.
        req_in = Path(tmp) / "pyproject-dependencies.in"
        req_in.write_text("\n".join(inputs.requirements) + "\n")
        out = Path(tmp) / "requirements.lock"
        result = subprocess.run(
            [
                uv,
                "pip",
                "compile",
                req_in.name,
                "--output-file",
                str(out),
                "--generate-hashes",
                "--no-header",
                "--quiet",
                "--python-version",
                PYTHON_VERSION,
                "--python-platform",
                ARCHES[inputs.arch],
            ],
            check=False,
            cwd=tmp,
        )
        if result.returncode != 0:
            raise SystemExit(
                f"resolving {lock.relative_to(ROOT)} failed (uv's error above): fix the "
                "requirement in the component's pyproject.toml, then rerun `hatch run lock`"
            )
        body = out.read_text()
    header = [
        "# Generated by `hatch run lock` (build/lock.py); do not edit.",
        f"# python: {PYTHON_VERSION}  platform: {ARCHES[inputs.arch]}",
        f"# input-sha256: {inputs.digest()}",
    ]
    header += [f"# local-package: {pkg}" for pkg in inputs.local_packages]
    lock.write_text("\n".join(header) + "\n" + body)


def main(argv: list[str] | None = None) -> int:
    """Regenerate the locks, or with --check report the stale ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale locks")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_locks()
        for lock in stale:
            print(f"stale lock: {lock.relative_to(ROOT)} (run `hatch run lock`)", file=sys.stderr)
        return 1 if stale else 0
    for lock, inputs in all_locks():
        compile_lock(lock, inputs)
        print(f"locked {lock.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
