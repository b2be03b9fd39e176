{
  description = "aircast: a dev shell with the exact tools CI uses, and the lint as a flake check";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";
    flake-utils.url = "github:numtide/flake-utils";
  };

  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachSystem [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ] (system:
      let
        pkgs = import nixpkgs {
          inherit system;
          # Terraform is BSL-licensed, hence unfree in nixpkgs: allow that one package, nothing else.
          config.allowUnfreePredicate = pkg: builtins.elem (nixpkgs.lib.getName pkg) [ "terraform" ];
        };
        python = pkgs.python311;
        # What .ci/run and the README's commands need: Python 3.11 with Hatch and uv (Hatch's
        # installer), Terraform for envs/ and modules/, PostgreSQL 15 binaries for the local stack,
        # hadolint for the Dockerfiles, Node.js for the contract tooling.
        tools = [
          python
          pkgs.hatch
          pkgs.uv
          pkgs.terraform
          pkgs.postgresql_15
          pkgs.hadolint
          pkgs.nodejs
        ];
      in
      {
        devShells.default = pkgs.mkShell {
          packages = tools;
          shellHook = ''
            # Hatch and uv use this interpreter; they never download one of their own.
            export UV_PYTHON=${python}/bin/python3.11
            export UV_PYTHON_DOWNLOADS=never
            export HATCH_PYTHON=${python}/bin/python3.11
          '';
        };

        # `nix flake check` runs the lint that needs no third-party Python packages (ruff and
        # hadolint; the sandbox has no network). mypy needs the components' dependencies: it runs
        # in `hatch run lint:check` inside the dev shell.
        checks.lint = pkgs.runCommand "aircast-lint"
          {
            nativeBuildInputs = [ pkgs.ruff pkgs.hadolint ];
            src = self;
          }
          ''
            cd "$src"
            ruff check --no-cache .
            ruff format --no-cache --check .
            hadolint components/api/Dockerfile components/mage/Dockerfile components/mlflow/Dockerfile
            touch "$out"
          '';

        formatter = pkgs.nixfmt-rfc-style;
      });
}
