"""`terraform apply`, for real: every environment applied, re-planned and destroyed against moto.

Per environment (envs/*), in parallel threads, each against its own emulator: apply with test
inputs; record what AWS would hold (boto3); `plan -detailed-exitcode` must find nothing to do;
lift deletion protection where the environment has it (the documented destroy procedure);
destroy; record what is left. The tests below assert on those records, so a failure names the
environment and the property. What the emulator cannot do is in emulator_gaps.toml.

Alone: `hatch run python -m pytest tests/infra/test_terraform_apply.py -q`.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.infra import emulator, tfcheck
from tests.infra.test_infra import _require

pytestmark = pytest.mark.infra

ENVS = [r.removeprefix("envs/") for r in tfcheck.roots() if r.startswith("envs/")]
TIMINGS: list[str] = []  # how long each step took, for the run's summary
GAPS = emulator.load_gaps()
SKIPPED_CHECKS = {check for gap in GAPS for check in gap.skip_checks}
# Names only a credential has (the module validation refuses them in `environment` too).
CREDENTIAL_NAME = re.compile(
    r"PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL|DATABASE_URL|CONNECTION_URL|STORE_URI|READER_URL",
    re.IGNORECASE,
)


@dataclass
class Run:
    """What happened to one environment."""

    env: str
    steps: dict[str, emulator.Step] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # read with boto3 after the apply
    state: str = ""
    leftovers: dict[str, list[str]] = field(default_factory=dict)  # after the destroy
    final_snapshots: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # requests an SDK sent again (journal lines)
    problem: str = ""  # the harness itself failed

    def step(self, name: str) -> emulator.Step:
        if name not in self.steps:
            why = self.problem or "an earlier step failed"
            pytest.fail(f"envs/{self.env}: no {name} ran: {why}")
        return self.steps[name]


# --- Reading the emulator --------------------------------------------------------------------


def _policy_documents(iam: Any) -> dict[str, Any]:
    """Every policy attached to a role (inline and managed), by 'role/policy'."""
    documents: dict[str, Any] = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            documents[f"{name}/{policy}"] = doc
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            documents[f"{name}/{attached['PolicyName']}"] = doc["Document"]
    return {k: json.loads(v) if isinstance(v, str) else v for k, v in documents.items()}


def read_facts(emu: emulator.Emulator, outputs: dict[str, Any]) -> dict[str, Any]:
    """What the checks need from the emulator after an apply."""
    ecs, ec2, elbv2 = emu.client("ecs"), emu.client("ec2"), emu.client("elbv2")
    s3, rds, sm = emu.client("s3"), emu.client("rds"), emu.client("secretsmanager")
    facts: dict[str, Any] = {}
    facts["task_definitions"] = {
        name: ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        for name, family in outputs["ecs_task_definitions"].items()
    }
    facts["secret_arns"] = sorted(s["ARN"] for s in sm.list_secrets()["SecretList"])
    cluster = outputs["cluster_name"]
    services = ecs.describe_services(
        cluster=cluster, services=list(outputs["ecs_services"].values())
    )["services"]
    facts["service_ingress"] = {}
    for service in services:
        groups = service["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"]
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": groups}])
        facts["service_ingress"][service["serviceName"]] = [
            r for r in rules["SecurityGroupRules"] if not r["IsEgress"]
        ]
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    facts["vpc_cidrs"] = [v["CidrBlock"] for v in vpcs]
    facts["security_groups_in_vpc"] = [
        g["GroupId"]
        for g in ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [v["VpcId"] for v in vpcs]}]
        )["SecurityGroups"]
    ]
    facts["target_groups"] = {
        tg["TargetGroupName"]: tg for tg in elbv2.describe_target_groups()["TargetGroups"]
    }
    facts["load_balancers"] = {
        lb["LoadBalancerName"]: {
            a["Key"]: a["Value"]
            for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])[
                "Attributes"
            ]
        }
        for lb in elbv2.describe_load_balancers()["LoadBalancers"]
    }
    bucket = outputs["artifact_bucket"]
    facts["bucket"] = {
        "public_access_block": s3.get_public_access_block(Bucket=bucket)[
            "PublicAccessBlockConfiguration"
        ],
        "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"],
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
    }
    facts["db_instances"] = rds.describe_db_instances()["DBInstances"]
    facts["policies"] = _policy_documents(emu.client("iam"))
    facts["scalable_targets"] = (
        emu.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")[
            "ScalableTargets"
        ]
        if "api_autoscaling" not in SKIPPED_CHECKS
        else []
    )
    return facts


def read_leftovers(emu: emulator.Emulator) -> tuple[dict[str, list[str]], list[str]]:
    """What an emptied account would not hold, by kind; and the DB snapshots left (final ones)."""
    ec2, ecs, rds = emu.client("ec2"), emu.client("ecs"), emu.client("rds")
    left: dict[str, list[str]] = {}
    left["vpcs"] = [
        v["VpcId"]
        for v in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    ]
    left["nat_gateways"] = [
        n["NatGatewayId"]
        for n in ec2.describe_nat_gateways()["NatGateways"]
        if n["State"] not in ("deleted", "deleting")
    ]
    left["elastic_ips"] = [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]]
    left["vpc_endpoints"] = [
        e["VpcEndpointId"]
        for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
        if e["State"].lower() not in ("deleted", "deleting")
    ]
    left["ecs_clusters"] = [
        c["clusterName"]
        for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
        if c["status"] == "ACTIVE"
    ]
    left["task_definitions"] = ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
    left["ecr_repositories"] = [
        r["repositoryName"] for r in emu.client("ecr").describe_repositories()["repositories"]
    ]
    left["db_instances"] = [
        d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
    ]
    left["db_subnet_groups"] = [
        g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]
    ]
    left["db_parameter_groups"] = [
        g["DBParameterGroupName"]
        for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
        if not g["DBParameterGroupName"].startswith("default.")
    ]
    iam = emu.client("iam")
    left["iam_roles"] = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    left["iam_policies"] = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    left["s3_buckets"] = [b["Name"] for b in emu.client("s3").list_buckets()["Buckets"]]
    left["log_groups"] = [
        g["logGroupName"] for g in emu.client("logs").describe_log_groups()["logGroups"]
    ]
    elbv2 = emu.client("elbv2")
    left["load_balancers"] = [
        lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]
    ]
    left["target_groups"] = [
        tg["TargetGroupName"] for tg in elbv2.describe_target_groups()["TargetGroups"]
    ]
    # Deleted secrets and KMS keys wait out their recovery window (by design): not left over.
    left["secrets"] = [s["Name"] for s in emu.client("secretsmanager").list_secrets()["SecretList"]]
    kms = emu.client("kms")
    left["kms_keys"] = [
        k["KeyId"]
        for k in kms.list_keys()["Keys"]
        if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"
    ]
    left["namespaces"] = [
        n["Name"] for n in emu.client("servicediscovery").list_namespaces()["Namespaces"]
    ]
    snapshots = [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]]
    return {k: v for k, v in left.items() if v}, snapshots


# --- The runs ----------------------------------------------------------------------------------

# The documented destroy procedure for a protected environment: lift the protection, apply, destroy.
LIFT_PROTECTION = """# Test-only (tests/infra/test_terraform_apply.py): destroy step 1.
module "aircast" {
  db = { deletion_protection = false, final_snapshot = true }
}
"""


def _deploy(env: str, scratch: Path) -> Run:
    run = Run(env)
    patches = [g.emulator_patch for g in GAPS if g.emulator_patch]
    try:
        with emulator.running_emulator(scratch, patches) as emu:
            try:
                _run_steps(run, env, emu, scratch)
            finally:
                run.retried = emu.retried_requests()
    except Exception as exc:  # noqa: BLE001 - recorded and reported by every test of the env
        run.problem = f"{type(exc).__name__}: {exc}"
    return run


def _run_steps(run: Run, env: str, emu: emulator.Emulator, scratch: Path) -> None:
    """Apply, read, re-plan, lift protection, destroy: into `run`, stopping at a failed step."""
    deployment = emulator.Deployment(env, emu, scratch, GAPS)
    if env != "dev":
        # prod refuses to plan without a certificate: one from the emulator's ACM.
        arn = emu.client("acm").request_certificate(DomainName=f"api.{env}.aircast.test")
        deployment.set_variable("api_certificate_arn", arn["CertificateArn"])
        deployment.set_variable("API_HOST", f"api.{env}.aircast.test")
    for name, action in (("init", deployment.init), ("apply", deployment.apply)):
        run.steps[name] = action()
        if run.steps[name].code != 0:
            return
    run.state = deployment.state_text()
    run.outputs = deployment.outputs()
    run.facts = read_facts(emu, run.outputs)
    run.steps["plan"] = deployment.plan()
    protected = any(d["DeletionProtection"] for d in run.facts["db_instances"])
    if protected:
        deployment.override_root("lift_protection", LIFT_PROTECTION)
        run.steps["lift protection"] = deployment.apply("lift protection")
        if run.steps["lift protection"].code != 0:
            return
    run.steps["destroy"] = deployment.destroy()
    run.leftovers, run.final_snapshots = read_leftovers(emu)


_STARTED: list[concurrent.futures.Future[dict[str, Run]]] = []


def _deploy_all() -> dict[str, Run]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aircast-apply-") as tmp:
        scratches = {env: Path(tmp, env) for env in ENVS}
        for folder in scratches.values():
            folder.mkdir()
        # Mostly waiting on the provider's fixed polling delays: one thread per environment.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(ENVS)) as pool:
            futures = {env: pool.submit(_deploy, env, scratches[env]) for env in ENVS}
            done = {env: future.result() for env, future in futures.items()}
    # The cost of the apply tests, printed in the run's summary (tests/infra/conftest.py).
    TIMINGS.append(f"apply tests: {time.monotonic() - started:.0f} s in all")
    for run in done.values():
        steps = ", ".join(f"{s.name} {s.seconds:.0f} s" for s in run.steps.values())
        TIMINGS.append(f"  envs/{run.env}: {steps}; {len(run.retried)} request(s) retried")
        # A retried request is one whose first attempt failed on the way: harmless when the
        # emulator never saw it, a double call when it did (the journal says which).
        TIMINGS.extend(f"    {line}" for line in run.retried[:10])
    return done


def start_runs() -> concurrent.futures.Future[dict[str, Run]] | None:
    """Start every environment's runs in the background (once); None when a tool is missing.

    tests/infra/conftest.py starts them as soon as the session is collected, so that they wait
    on the provider's polling delays while test_infra.py's terraform tests use the CPU.
    """
    if not _STARTED:
        try:
            tfcheck.terraform()
            emulator.emulator_python()
        except tfcheck.ToolMissingError:
            return None
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        _STARTED.append(pool.submit(_deploy_all))
        pool.shutdown(wait=False)
    return _STARTED[0]


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    _require(tfcheck.terraform)
    _require(emulator.emulator_python)
    future = start_runs()
    assert future is not None
    return future.result()


def _failed(run: Run, name: str) -> str:
    step = run.step(name)
    found = emulator.errors(step.output) or [step.output[-6000:]]
    listed = [g.id for g in GAPS if any(g.error in e for e in found)]
    hint = (
        f" (matches listed emulator gap(s) {listed}: their workaround no longer works)"
        if listed
        else " (not in tests/infra/emulator_gaps.toml: fix the module, or list a new emulator gap)"
    )
    notes = step.emulator_notes or "(nothing: no retried request, 5xx or dropped connection)"
    return (
        f"envs/{run.env}: terraform {name} failed{hint}:\n"
        + "\n\n".join(found)[-8000:]
        + f"\n\nWhat the emulator logged during `terraform {name}`:\n{notes}"
    )


# --- The emulator gap list ------------------------------------------------------------------


def test_emulator_gap_list_is_well_formed() -> None:
    from tests.infra import moto_launcher

    assert len({g.id for g in GAPS}) == len(GAPS)
    for gap in GAPS:
        assert gap.what, f"{gap.id}: say what fails"
        assert gap.error, f"{gap.id}: quote the error"
        assert gap.probe in emulator.PROBES, f"{gap.id}: no probe {gap.probe}"
        assert not gap.emulator_patch or gap.emulator_patch in moto_launcher.PATCHES
        for folder in gap.overrides:
            assert folder.startswith("modules/"), f"{gap.id}: workarounds override modules only"
            assert (tfcheck.REPO / folder).is_dir(), folder
        assert gap.overrides or gap.emulator_patch or gap.skip_checks, f"{gap.id}: no workaround"


@pytest.fixture(scope="module")
def plain_emulator() -> Iterator[emulator.Emulator]:
    """An emulator without the harness's patches, for the probes."""
    _require(emulator.emulator_python)
    with (
        tempfile.TemporaryDirectory(prefix="aircast-probe-") as tmp,
        emulator.running_emulator(Path(tmp)) as emu,
    ):
        yield emu


@pytest.mark.parametrize("gap", GAPS, ids=[g.id for g in GAPS])
def test_listed_emulator_gap_is_still_a_gap(
    gap: emulator.Gap, plain_emulator: emulator.Emulator
) -> None:
    found = gap.reproduce(plain_emulator)
    assert found is not None, (
        f"the emulator now does what gap {gap.id} says it cannot ({gap.what}): delete the entry "
        "and its workaround from tests/infra/emulator_gaps.toml"
    )


# --- Apply, re-plan, destroy -------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_environment_applies(env: str, runs: dict[str, Run]) -> None:
    run = runs[env]
    assert not run.problem, f"envs/{env}: the harness failed: {run.problem}"
    assert run.step("apply").code == 0, _failed(run, "apply")


@pytest.mark.parametrize("env", ENVS)
def test_second_plan_finds_nothing_to_change(env: str, runs: dict[str, Run]) -> None:
    step = runs[env].step("plan")
    assert step.code != 1, _failed(runs[env], "plan")
    assert step.code == 0, (
        f"envs/{env} is not idempotent: a plan right after the apply wants changes (fix the "
        "module, or list an emulator gap):\n" + "\n".join(emulator.changes(step.output))
    )


@pytest.mark.parametrize("env", ENVS)
def test_destroy_leaves_nothing_behind(env: str, runs: dict[str, Run]) -> None:
    run = runs[env]
    if "lift protection" in run.steps:
        assert run.step("lift protection").code == 0, _failed(run, "lift protection")
    assert run.step("destroy").code == 0, _failed(run, "destroy")
    assert run.leftovers == {}, f"envs/{env}: left behind after destroy: {run.leftovers}"
    # Protected environments (prod) take a final snapshot of each database; disposable ones none.
    # Automated backups ("rds:<id>-<time>") are kept for their retention period by design
    # (modules/rds: delete_automated_backups = false), in every environment.
    databases = [d["DBInstanceIdentifier"] for d in run.facts["db_instances"]]
    expected = sorted(f"{d}-final" for d in databases) if "lift protection" in run.steps else []
    automated = [s for s in run.final_snapshots if s.startswith("rds:")]
    assert all(any(s.startswith(f"rds:{d}-") for d in databases) for s in automated), automated
    manual = sorted(s for s in run.final_snapshots if not s.startswith("rds:"))
    assert manual == expected, (
        f"envs/{env}: DB snapshots after destroy {manual}, expected {expected} "
        "(protected environments keep a final snapshot, disposable ones none)"
    )


# --- What was created ----------------------------------------------------------------------------


def _facts(runs: dict[str, Run], env: str) -> dict[str, Any]:
    run = runs[env]
    if not run.facts:
        pytest.fail(f"envs/{env} was not applied: {run.problem or 'see test_environment_applies'}")
    return run.facts


@pytest.mark.parametrize("env", ENVS)
def test_no_credential_in_state(env: str, runs: dict[str, Run]) -> None:
    state = runs[env].state
    assert state, f"envs/{env}: no state after the apply"
    leaked = [k for k, v in emulator.CREDENTIALS.items() if "test-only-" in v and v in state]
    assert not leaked, f"envs/{env}: the state holds the values of {leaked}"
    assert "test-only-" not in state


@pytest.mark.parametrize("env", ENVS)
def test_task_definitions_take_credentials_as_secret_arns(env: str, runs: dict[str, Run]) -> None:
    facts = _facts(runs, env)
    assert set(facts["task_definitions"]) == {"api", "mage", "mlflow"}
    for name, task in facts["task_definitions"].items():
        for container in task["containerDefinitions"]:
            secrets = container.get("secrets", [])
            assert secrets, f"{name}: takes no credential from Secrets Manager"
            for secret in secrets:
                assert secret["valueFrom"] in facts["secret_arns"], (
                    f"{name}: {secret['name']} is not the ARN of a secret of this stack"
                )
            for variable in container.get("environment", []):
                assert not CREDENTIAL_NAME.search(variable["name"]), f"{name}: {variable['name']}"
                assert "test-only-" not in variable["value"], f"{name}: {variable['name']} leaks"
                assert not re.search(r"://[^/@\s]+:[^/@\s]+@", variable["value"]), variable["name"]
        assert "test-only-" not in json.dumps(task), f"{name}: a credential value is in the task"


@pytest.mark.parametrize("env", ENVS)
def test_mage_and_mlflow_take_no_traffic_from_outside_the_vpc(
    env: str, runs: dict[str, Run]
) -> None:
    import ipaddress

    facts = _facts(runs, env)
    vpcs = [ipaddress.ip_network(c) for c in facts["vpc_cidrs"]]
    for service in ("mage", "mlflow"):
        for rule in facts["service_ingress"][service]:
            if "CidrIpv4" in rule:
                network = ipaddress.ip_network(rule["CidrIpv4"])
                assert any(network.subnet_of(v) for v in vpcs), f"{service}: ingress from {network}"
            else:
                referenced = rule.get("ReferencedGroupInfo", {}).get("GroupId")
                assert referenced in facts["security_groups_in_vpc"], f"{service}: {rule}"
            assert "CidrIpv6" not in rule, f"{service}: {rule}"
            assert "PrefixListId" not in rule, f"{service}: {rule}"
    assert facts["service_ingress"]["mage"] == [], "mage must take no inbound traffic at all"
    assert facts["service_ingress"]["mlflow"], "mlflow takes traffic from the api and mage tasks"


@pytest.mark.parametrize("env", ENVS)
def test_api_target_group_checks_readiness(env: str, runs: dict[str, Run]) -> None:
    groups = _facts(runs, env)["target_groups"]
    api = groups[f"aircast-{env}-api"]
    assert api["HealthCheckPath"] == "/readyz"
    assert api["TargetType"] == "ip"


@pytest.mark.parametrize("env", ENVS)
def test_artifact_bucket_is_private_encrypted_and_versioned(env: str, runs: dict[str, Run]) -> None:
    bucket = _facts(runs, env)["bucket"]
    assert bucket["public_access_block"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rule = bucket["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert rule["KMSMasterKeyID"]
    assert bucket["versioning"] == "Enabled"


@pytest.mark.parametrize("env", ENVS)
def test_databases_are_encrypted_with_rds_managed_master_passwords(
    env: str, runs: dict[str, Run]
) -> None:
    instances = _facts(runs, env)["db_instances"]
    assert sorted(d["DBInstanceIdentifier"] for d in instances) == [
        f"aircast-{env}-mage",
        f"aircast-{env}-mlflow",
    ]
    for db in instances:
        name = db["DBInstanceIdentifier"]
        assert db["StorageEncrypted"], f"{name}: storage not encrypted"
        assert db.get("KmsKeyId"), f"{name}: storage not encrypted with the project key"
        assert not db["PubliclyAccessible"], name
        secret = db.get("MasterUserSecret") or {}
        assert secret.get("SecretArn"), f"{name}: the master password is not managed by RDS"
        assert secret.get("KmsKeyId") == db["KmsKeyId"], f"{name}: master secret not on the key"


@pytest.mark.parametrize("env", ENVS)
def test_no_iam_policy_allows_every_action_on_every_resource(
    env: str, runs: dict[str, Run]
) -> None:
    policies = _facts(runs, env)["policies"]
    assert len(policies) >= 6, f"envs/{env}: expected the roles' policies, found {sorted(policies)}"

    def as_list(value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]

    for name, document in policies.items():
        for statement in as_list(document["Statement"]):
            if statement.get("Effect") != "Allow":
                continue
            actions = as_list(statement.get("Action", []))
            resources = as_list(statement.get("Resource", []))
            assert not ("*" in actions and "*" in resources), f"{name}: allows * on *"


def test_prod_is_protected_while_it_runs(runs: dict[str, Run]) -> None:
    if "prod" not in runs:
        pytest.fail("envs/prod is missing")
    facts = _facts(runs, "prod")
    assert all(d["DeletionProtection"] for d in facts["db_instances"])
    assert all(d["MultiAZ"] for d in facts["db_instances"])
    lb = facts["load_balancers"]["aircast-prod-api"]
    assert lb["deletion_protection.enabled"] == "true"
