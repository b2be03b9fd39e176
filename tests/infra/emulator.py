"""`terraform apply` of an environment against a local AWS emulator (moto in server mode).

The harness behind tests/infra/test_terraform_apply.py, usable on its own:

    hatch run python tests/infra/emulator.py dev      # apply, re-plan, destroy; print timings

- `Emulator` starts `moto_server` (from the `tf` Hatch environment) on a free loopback port and
  stops it, with everything it started, on exit.
- `Deployment` copies modules/ and envs/ to a scratch folder and writes, there only, a provider
  override pointing every AWS endpoint at the emulator, a local backend, and the workarounds of
  emulator_gaps.toml. Test inputs reach Terraform as TF_VAR_* variables, never as files.
- emulator_gaps.toml lists what the emulator cannot do, with its exact error and a probe that
  reproduces it; the workarounds live there and nowhere in modules/ or envs/.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.infra import tfcheck

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's account
GAPS_FILE = Path(__file__).with_name("emulator_gaps.toml")
JOURNAL = "aircast-emulator:"  # prefix of the launcher's journal lines (moto_launcher.JOURNAL)
# Provider endpoint names of every service the modules use.
SERVICES = (
    "acm",
    "appautoscaling",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "servicediscovery",
    "sts",
)
# Inputs of the test deployments. Values are recognisable so that a leak into a task definition,
# a log or the state is found by searching for them.
CREDENTIALS = {
    "MAGE_RDS_USERNAME": "aircast_writer",
    "MAGE_RDS_PASSWORD": "test-only-mage-writer-pw",
    "MLFLOW_RDS_USERNAME": "mlflow",
    "MLFLOW_RDS_PASSWORD": "test-only-mlflow-pw",
    "MAGEDB_PASSWORD": "test-only-reader-pw",
    "MAGE_DATABASE_CONNECTION_URL": (
        "postgresql+psycopg2://mage:test-only-mage-meta-pw@db.internal.example:5432/mage"
    ),
    "OPENAQ_API_KEY": "test-only-openaq-key",
    "AIRCAST_API_KEYS": "test-only-api-key-digest",
}
SECRET_VALUES = ("test-only-",)  # every credential above carries this marker


class EmulatorError(RuntimeError):
    """The emulator could not be started."""


# --- The emulator --------------------------------------------------------------------------------


@functools.cache
def emulator_python() -> Path:
    """Python of the `tf` Hatch environment, where hatch.toml declares moto[server]."""
    hatch = shutil.which("hatch")
    if hatch is None:
        raise tfcheck.ToolMissingError("the emulator needs the `tf` Hatch env: install hatch")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HATCH_ENV")}
    clean.pop("VIRTUAL_ENV", None)
    # `hatch run` (not `env find`) brings an older tf environment up to date with hatch.toml.
    found = subprocess.run(
        [hatch, "run", "tf:python", "-c", "import moto, sys; print(sys.executable)"],
        cwd=tfcheck.REPO,
        capture_output=True,
        text=True,
        check=False,
        env=clean,
        timeout=600,
    )
    if found.returncode != 0:
        raise tfcheck.ToolMissingError(f"moto is missing from the `tf` Hatch env:\n{found.stderr}")
    return Path(found.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate a process started in its own session, and its children; kill after 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class Emulator:
    """A running moto server."""

    endpoint: str
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self, service: str) -> Any:
        """A boto3 client of `service` talking to the emulator."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server's output."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def notes(self, since: int = 0, limit: int = 4000) -> str:
        """What the emulator logged after byte `since` that explains a failed call, bounded.

        The launcher's journal (retried requests with what their earlier attempts got, 5xx
        answers, connections the client dropped) and the tracebacks of requests moto failed.
        """
        with self.log.open("rb") as log:
            log.seek(since)
            lines = log.read().decode(errors="replace").splitlines()
        kept: list[str] = []
        in_traceback = False
        for line in lines:
            if line.startswith(JOURNAL) or '" 5' in line or line.startswith("Traceback"):
                kept.append(line)
                in_traceback = line.startswith("Traceback")
            elif in_traceback:
                kept.append(line)
                # A traceback ends with the exception line, the first one not indented.
                in_traceback = line.startswith(" ")
        text = "\n".join(kept)
        if len(text) > limit:
            text = "...\n" + text[-limit:].split("\n", 1)[-1]
        return text

    def retried_requests(self) -> list[str]:
        """The journal's lines of requests an SDK sent again, over the whole run."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [ln for ln in text.splitlines() if ln.startswith(JOURNAL) and " RETRY " in ln]


@contextmanager
def running_emulator(workdir: Path, patches: list[str] | None = None) -> Iterator[Emulator]:
    """Start moto's server on a free port, yield it, stop it (and its children) afterwards.

    `patches` name workarounds of moto_launcher.py (from emulator_gaps.toml).
    """
    port = _free_port()
    log = workdir / f"moto-{port}.log"
    launcher = Path(__file__).with_name("moto_launcher.py")
    patch_args = [arg for name in patches or [] for arg in ("--patch", name)]
    env = dict(os.environ)
    # AWS-managed policies (AmazonECSTaskExecutionRolePolicy, ...) exist in every AWS account;
    # moto loads them only when told to.
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    argv = [str(emulator_python()), str(launcher), *patch_args, "-H", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    emulator = Emulator(endpoint=f"http://127.0.0.1:{port}", proc=proc, log=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise EmulatorError(f"moto_server exited {proc.returncode}:\n{emulator.log_tail()}")
            try:
                with urllib.request.urlopen(f"{emulator.endpoint}/moto-api/", timeout=2):
                    break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise EmulatorError(f"moto did not answer:\n{emulator.log_tail()}") from exc
                time.sleep(0.2)
        yield emulator
    finally:
        _stop(proc)


# --- Emulator gaps -------------------------------------------------------------------------------


@dataclass
class Gap:
    """Something the emulator cannot do, as listed in emulator_gaps.toml."""

    id: str
    what: str
    error: str
    probe: str  # name of a function in PROBES
    upstream: str = ""
    overrides: dict[str, str] = field(default_factory=dict)  # folder -> test-only override HCL
    emulator_patch: str = ""  # name of a patch in moto_launcher.py
    skip_checks: list[str] = field(default_factory=list)

    def reproduce(self, emulator: Emulator) -> str | None:
        """Run the probe against an unpatched emulator: what it reports, None when it works."""
        seen = emulator.log.stat().st_size
        found = PROBES[self.probe](emulator)
        if found is None or "(500)" not in found:
            return found
        # A 500 carries no message: moto's own exception is in its log.
        with emulator.log.open("rb") as log:
            log.seek(seen)
            server = log.read().decode(errors="replace")
        return f"{found}\n{server}"


def _probe_appautoscaling_tags(emulator: Emulator) -> str | None:
    from botocore.exceptions import ClientError

    client = emulator.client("application-autoscaling")
    arn = f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT_ID}:scalable-target/probe"
    try:
        client.list_tags_for_resource(ResourceARN=arn)
    except ClientError as exc:
        return str(exc)
    return None


def _probe_rds_resource_ids(emulator: Emulator) -> str | None:
    rds = emulator.client("rds")
    names = ("probe-one", "probe-two")
    ids = set()
    for name in names:
        created = rds.create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20,
            MasterUsername="probe",
            ManageMasterUserPassword=True,
        )
        ids.add(created["DBInstance"]["DbiResourceId"])
    for name in names:
        rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
    if len(ids) == 1:
        return f"two DB instances share one DbiResourceId ({ids.pop()})"
    return None


def _probe_db_parameter_source(emulator: Emulator) -> str | None:
    rds = emulator.client("rds")
    rds.create_db_parameter_group(
        DBParameterGroupName="probe", DBParameterGroupFamily="postgres16", Description="probe"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="probe",
        Parameters=[
            {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}
        ],
    )
    parameters = rds.describe_db_parameters(DBParameterGroupName="probe")["Parameters"]
    rds.delete_db_parameter_group(DBParameterGroupName="probe")
    forced = [p for p in parameters if p["ParameterName"] == "rds.force_ssl"]
    if not forced or forced[0].get("Source") != "user":
        return f"DescribeDBParameters: {forced} (no Source = user)"
    return None


def _probe_ecs_service_attributes(emulator: Emulator) -> str | None:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="probe")
    ecs.register_task_definition(
        family="probe",
        containerDefinitions=[{"name": "probe", "image": "probe", "memory": 512}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )
    wanted = {
        "healthCheckGracePeriodSeconds": 60,
        "enableExecuteCommand": True,
        "availabilityZoneRebalancing": "DISABLED",
    }
    ecs.create_service(
        cluster="probe", serviceName="probe", taskDefinition="probe", desiredCount=0, **wanted
    )
    got = ecs.describe_services(cluster="probe", services=["probe"])["services"][0]
    lost = {k: got.get(k) for k, v in wanted.items() if got.get(k) != v}
    ecs.delete_service(cluster="probe", service="probe", force=True)
    ecs.delete_cluster(cluster="probe")
    return f"DescribeServices lost {lost}" if lost else None


def _probe_sg_rule_description(emulator: Emulator) -> str | None:
    ec2 = emulator.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="probe", Description="probe", VpcId=vpc)["GroupId"]
    peer = ec2.create_security_group(GroupName="peer", Description="peer", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": peer, "Description": "probe"}],
            }
        ],
    )
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    ingress = [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]
    for group_id in (group, peer):
        ec2.delete_security_group(GroupId=group_id)
    ec2.delete_vpc(VpcId=vpc)
    if not ingress or ingress[0].get("Description") != "probe":
        return f"DescribeSecurityGroupRules: {ingress} (no Description)"
    return None


PROBES = {
    "db_parameter_source": _probe_db_parameter_source,
    "ecs_service_attributes": _probe_ecs_service_attributes,
    "sg_rule_description": _probe_sg_rule_description,
    "appautoscaling_tags": _probe_appautoscaling_tags,
    "rds_resource_ids": _probe_rds_resource_ids,
}


def load_gaps(path: Path = GAPS_FILE) -> list[Gap]:
    """The entries of emulator_gaps.toml."""
    data = tomllib.loads(path.read_text())
    return [Gap(**entry) for entry in data.get("gap", [])]


# --- A deployment in a scratch copy --------------------------------------------------------------


@dataclass
class Step:
    """One terraform command and its outcome."""

    name: str
    code: int
    output: str
    seconds: float
    emulator_notes: str = ""  # what the emulator logged during a failed step (Emulator.notes)


def _provider_override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {s:<16} = "{endpoint}"' for s in SERVICES)
    return f"""# Written by tests/infra/emulator.py into a scratch copy only: emulator, local state.
terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  # Retries ride out a connection refused or reset before the emulator saw the request. They are
  # not harmless: a call the emulator carried out but whose answer the client lost is carried
  # out twice (a DeleteSecret then fails). The launcher sends every answer in one piece so that
  # the client does not lose it, and logs every retried request. More retries would only delay
  # the error of an operation the emulator does not implement (a 500).
  max_retries = 4

  endpoints {{
{endpoints}
  }}
}}
"""


class Deployment:
    """One environment (envs/<name>) applied to the emulator from a scratch copy."""

    def __init__(self, env: str, emulator: Emulator, scratch: Path, gaps: list[Gap]) -> None:
        self.env = env
        self.emulator = emulator
        self.work = tfcheck.prepare_workspace(scratch)
        self.root = self.work / "envs" / env
        self.steps: list[Step] = []
        self.tf_env = tfcheck.terraform_env(scratch)
        self.tf_env.update(
            {f"TF_VAR_{k}": v for k, v in CREDENTIALS.items()},
            TF_VAR_aws_region=REGION,
            TF_VAR_PROJECT_PREFIX="aircast",
            TF_LOG="",
        )
        (self.root / "emulator_override.tf").write_text(_provider_override(emulator.endpoint))
        for gap in gaps:
            for folder, hcl in gap.overrides.items():
                target = self.work / folder / f"emulator_{gap.id}_override.tf"
                header = f"# emulator_gaps.toml, {gap.id}: {gap.what}\n"
                target.write_text(header + hcl)

    def set_variable(self, name: str, value: str) -> None:
        """Set the root variable `name` over terraform.tfvars (a scratch *.auto.tfvars.json).

        Not for credentials: those go in as TF_VAR_* and are never written to a file.
        """
        path = self.root / "emulator.auto.tfvars.json"
        values = json.loads(path.read_text()) if path.exists() else {}
        values[name] = value
        path.write_text(json.dumps(values, indent=2))

    def override_root(self, name: str, hcl: str) -> None:
        """Add a test-only override file to the scratch root (e.g. lift prod's protection)."""
        (self.root / f"{name}_override.tf").write_text(hcl)

    def terraform(self, name: str, *args: str, timeout: int = 900) -> Step:
        """Run terraform in the scratch root; the process group is killed on timeout."""
        start = time.monotonic()
        log_start = self.emulator.log_size()
        proc = subprocess.Popen(
            [tfcheck.terraform(), *args, "-no-color"],
            cwd=self.root,
            env=self.tf_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            _stop(proc)
            output, code = f"terraform {name} timed out after {timeout} s", -1
        except BaseException:
            _stop(proc)
            raise
        step = Step(name, code, output, time.monotonic() - start)
        # plan -detailed-exitcode answers 2 for "changes": only other codes are failures.
        if code not in (0, 2) or (code == 2 and args[0] != "plan"):
            step.emulator_notes = self.emulator.notes(log_start)
        self.steps.append(step)
        return step

    def init(self) -> Step:
        return self.terraform("init", "init", "-input=false")

    def apply(self, name: str = "apply") -> Step:
        return self.terraform(name, "apply", "-auto-approve", "-input=false", "-parallelism=20")

    def plan(self) -> Step:
        """`plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error."""
        return self.terraform(
            "plan", "plan", "-detailed-exitcode", "-input=false", "-parallelism=20"
        )

    def destroy(self) -> Step:
        return self.terraform(
            "destroy", "destroy", "-auto-approve", "-input=false", "-parallelism=20"
        )

    def outputs(self) -> dict[str, Any]:
        step = self.terraform("output", "output", "-json")
        if step.code != 0:
            raise RuntimeError(step.output)
        return {k: v["value"] for k, v in json.loads(step.output).items()}

    def state_text(self) -> str:
        state = self.root / "terraform.tfstate"
        return state.read_text() if state.exists() else ""


def changes(plan_output: str) -> list[str]:
    """What a plan would change: each resource's header line and its changed attributes."""
    kept = []
    # What changed outside Terraform (refresh notes) is printed first: only the plan counts.
    marker = "Terraform will perform the following actions:"
    plan_output = plan_output.split(marker, 1)[1] if marker in plan_output else plan_output
    for line in plan_output.splitlines():
        if re.match(r"\s+# \S+ (will|must) be", line) or re.match(r"\s+[~+-] \w+\s+=", line):
            kept.append(line.rstrip())
    return kept


def errors(output: str) -> list[str]:
    """The `Error:` blocks of terraform's output, one string each."""
    blocks = re.split(r"\n(?=Error: )", output)
    return [b.strip() for b in blocks if b.startswith("Error: ")]


# --- Script --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Apply, re-plan and destroy one environment against the emulator; print what happened."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env", help="an environment under envs/ (dev, prod)")
    parser.add_argument("--keep", action="store_true", help="skip the destroy")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aircast-apply-") as tmp:
        scratch = Path(tmp)
        gaps = load_gaps()
        patches = [g.emulator_patch for g in gaps if g.emulator_patch]
        with running_emulator(scratch, patches) as emulator:
            deployment = Deployment(args.env, emulator, scratch, gaps)
            for step in (deployment.init, deployment.apply, deployment.plan):
                result = step()
                print(f"{result.name:<8} exit {result.code:>3} {result.seconds:6.1f} s")
                if result.code not in (0, 2) or (result.name == "apply" and result.code):
                    print(result.output[-8000:])
                    print(f"The emulator logged:\n{result.emulator_notes or '(nothing notable)'}")
                    return 1
                if result.name == "plan" and result.code == 2:
                    print("\n".join(changes(result.output)))
            if not args.keep:
                result = deployment.destroy()
                print(f"{result.name:<8} exit {result.code:>3} {result.seconds:6.1f} s")
                print("\n".join(errors(result.output)))
                if result.emulator_notes:
                    print(f"The emulator logged:\n{result.emulator_notes}")
            print("\n".join(emulator.retried_requests()) or "no request was retried")
    return 0


if __name__ == "__main__":
    sys.exit(main())
