"""flake.nix and flake.lock: syntax, evaluated outputs against stub inputs, lock validity.

nixpkgs cannot be fetched here, so the outputs are evaluated with stub `nixpkgs` and
`flake-utils` inputs that define only the attributes the flake may use: a misspelt package or
library function fails evaluation. Building the shell for real needs `nix develop` with network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.build.conftest import REPO

pytestmark = pytest.mark.build

SYSTEMS = ["x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"]
DEV_SHELL_TOOLS = ["python3.11", "hatch", "uv", "terraform", "postgresql-15", "hadolint", "nodejs"]

# A nixpkgs stand-in: each package is an attrset with a name and an outPath; mkShell and
# runCommand return what they were given, so the test can read the shell and the check back.
STUB_NIXPKGS = """
{ system, config ? { } }:
let
  pkg = name: { inherit name; pname = name; outPath = "/nix/store/stub-" + name; };
in {
  inherit system;
  python311 = pkg "python3.11";
  hatch = pkg "hatch";
  uv = pkg "uv";
  # Like nixpkgs: an unfree package evaluates only when the config's predicate allows it.
  terraform =
    if (config.allowUnfreePredicate or (_: false)) (pkg "terraform")
    then pkg "terraform"
    else throw "terraform is unfree and not allowed by config";
  postgresql_15 = pkg "postgresql-15";
  hadolint = pkg "hadolint";
  nodejs = pkg "nodejs";
  ruff = pkg "ruff";
  nixfmt-rfc-style = pkg "nixfmt";
  mkShell = args: {
    shell = args;
    unfreeAllows = name: (config.allowUnfreePredicate or (_: false)) (pkg name);
  };
  runCommand = name: env: script: { inherit name env script; };
}
"""

EVAL = """
let
  flake = import (REPO + "/flake.nix");
  nixpkgs = {
    outPath = STUB;
    lib.getName = p: p.pname;
  };
  # flake-utils' eachSystem: { attr = value; } per system -> { attr.<system> = value; }.
  flake-utils.lib.eachSystem = systems: f:
    let
      per = map (s: { name = s; value = f s; }) systems;
      attrs = builtins.attrNames (f (builtins.head systems));
    in builtins.listToAttrs (map (a: {
      name = a;
      value = builtins.listToAttrs (map (p: { name = p.name; value = p.value.${a}; }) per);
    }) attrs);
  out = flake.outputs { self = { outPath = REPO; }; inherit nixpkgs flake-utils; };
  shellDrv = out.devShells.x86_64-linux.default;
  shell = shellDrv.shell;
  lint = out.checks.x86_64-linux.lint;
in {
  inputs = builtins.mapAttrs (n: v: v.url) flake.inputs;
  outputs = builtins.attrNames out;
  systems = builtins.attrNames out.devShells;
  checkSystems = builtins.attrNames out.checks;
  shellTools = map (p: p.name) shell.packages;
  shellHook = shell.shellHook;
  lintScript = lint.script;
  lintTools = map (p: p.name) lint.env.nativeBuildInputs;
  unfreeAllowed = map shellDrv.unfreeAllows [ "terraform" "vault" "consul" ];
}
"""


def nix_instantiate() -> str:
    found = shutil.which("nix-instantiate")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nix-instantiate missing: .ci/run installs Debian's nix-bin")
        pytest.skip("nix-instantiate not installed (Debian: apt-get install nix-bin)")
    return found


def test_flake_parses() -> None:
    result = subprocess.run(
        [nix_instantiate(), "--parse", str(REPO / "flake.nix")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def evaluate(tmp_path: Path) -> dict[str, object]:
    stub = tmp_path / "nixpkgs"
    stub.mkdir()
    (stub / "default.nix").write_text(STUB_NIXPKGS)
    # Strings, not path literals: nothing is copied into a store.
    expr = EVAL.replace("REPO", json.dumps(str(REPO))).replace("STUB", json.dumps(str(stub)))
    result = subprocess.run(
        [nix_instantiate(), "--eval", "--strict", "--json", "--expr", expr],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_outputs_evaluate_against_stub_inputs(tmp_path: Path) -> None:
    out = evaluate(tmp_path)
    assert out["inputs"] == {
        "nixpkgs": "github:NixOS/nixpkgs/nixos-24.11",
        "flake-utils": "github:numtide/flake-utils",
    }
    assert {"devShells", "checks", "formatter"} <= set(out["outputs"])
    assert out["systems"] == sorted(SYSTEMS)
    assert out["checkSystems"] == sorted(SYSTEMS)
    assert out["shellTools"] == DEV_SHELL_TOOLS
    assert "/nix/store/stub-python3.11/bin/python3.11" in out["shellHook"]
    assert out["lintTools"] == ["ruff", "hadolint"]
    for command in ("ruff check", "ruff format --no-cache --check", "hadolint components/api/"):
        assert command in out["lintScript"]
    # Terraform (BSL, unfree in nixpkgs) is allowed; no other unfree package slips in.
    assert out["unfreeAllowed"] == [True, False, False]


def test_flake_lock_pins_every_input() -> None:
    lock = json.loads((REPO / "flake.lock").read_text())
    assert lock["version"] == 7
    root = lock["nodes"][lock["root"]]
    assert sorted(root["inputs"]) == ["flake-utils", "nixpkgs"]
    for name in [*root["inputs"].values(), "systems"]:
        locked = lock["nodes"][name]["locked"]
        assert locked["type"] == "github"
        assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"])
        assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"])
        assert isinstance(locked["lastModified"], int)
    nixpkgs = lock["nodes"][root["inputs"]["nixpkgs"]]
    assert nixpkgs["original"]["ref"] == "nixos-24.11"
