"""The local service stack: PostgreSQL, an S3 endpoint and the MLflow tracking server.

One module starts the three services for the tests (session fixtures in ``tests/conftest.py``)
and for the demo and ``aircast stack up``. Two backends share configuration and readiness code:

* ``containers`` — testcontainers (PostgreSQL, MinIO, and the project's own
  ``components/mlflow`` image) when a Docker engine answers;
* ``local`` — a throwaway PostgreSQL cluster from the machine's binaries (run as an
  unprivileged user when we are root), ``moto_server``, and the real ``mlflow server`` from the
  ``mlflow`` Hatch environment.

Every process is started in its own process group, with a parent-death signal, and recorded in
a state file so ``aircast stack down`` can stop a stack whose owner died. Teardown stops every
process group and removes the temporary directory; service logs are kept in memory for failure
reports (:meth:`Stack.log_tails`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aircast_dev.settings import StackSettings

DATABASES = ("aircast", "mlflow", "mage")
READER_ROLE = "aircast_reader"
_PR_SET_PDEATHSIG = 1
# MLflow 3's job runner (huey consumers for GenAI jobs) adds five processes and start-up time;
# aircast schedules its work in Mage and uses none of those jobs.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class StackError(RuntimeError):
    """A service of the local stack could not be started; the message says which and why."""


@dataclass(frozen=True)
class Endpoints:
    """How to reach the running services. Everything a client needs, nothing more."""

    backend: str
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    reader_password: str
    s3_endpoint_url: str
    s3_access_key: str
    s3_secret_key: str
    bucket: str
    mlflow_tracking_uri: str
    region: str = "us-east-1"

    def db_url(self, database: str = "aircast", *, driver: str = "") -> str:
        """libpq URL (``driver=""``) or SQLAlchemy URL (``driver="psycopg"``/``"psycopg2"``)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return (
            f"{scheme}://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}/{database}"
        )

    def reader_url(self, database: str = "aircast") -> str:
        """libpq URL of ``database`` as the read-only role."""
        return (
            f"postgresql://{READER_ROLE}:{self.reader_password}"
            f"@{self.pg_host}:{self.pg_port}/{database}"
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point aircast, MLflow, boto3 and Mage at this stack."""
        return {
            "AIRCAST_DATABASE_URL": self.db_url("aircast"),
            "AIRCAST_DATABASE_READER_URL": self.reader_url("aircast"),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AIRCAST_ARTIFACT_BUCKET": self.bucket,
            "MAGE_DATABASE_CONNECTION_URL": self.db_url("mage", driver="psycopg2"),
        }


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM


@dataclass
class Stack:
    """A running stack. Use :func:`running_stack` (a context manager) to get one."""

    endpoints: Endpoints
    workdir: Path
    started_seconds: float = 0.0
    _processes: list[_Process] = field(default_factory=list)
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """See :meth:`Endpoints.env`."""
        return self.endpoints.env()

    def create_database(self, name: str) -> str:
        """Create an empty database (for a test that needs its own) and return its libpq URL."""
        _admin_execute(self.endpoints, f'CREATE DATABASE "{name}"')
        _admin_execute(self.endpoints, f'GRANT CONNECT ON DATABASE "{name}" TO {READER_ROLE}')
        return self.endpoints.db_url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database made by :meth:`create_database`."""
        _admin_execute(self.endpoints, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """The last lines of each service's log, for failure reports."""
        tails: dict[str, str] = {}
        for log in sorted((self.workdir / "logs").glob("*.log")):
            with contextlib.suppress(OSError):
                text = log.read_text(errors="replace").splitlines()
                tails[log.stem] = "\n".join(text[-lines:])
        return tails

    def pids(self) -> list[int]:
        """PIDs of the processes this stack started (process-group leaders)."""
        return [p.popen.pid for p in self._processes]

    def stop(self) -> None:
        """Stop every service and remove the working directory. Safe to call twice."""
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self._cleanups.clear()
        for proc in reversed(self._processes):
            _stop_group(proc.popen, proc.stop_signal)
        self._processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
        _state_file(self.workdir).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Shared helpers: ports, readiness, processes


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool], *, what: str, timeout: float, on_fail: Callable[[], str]
) -> None:
    """Poll ``check`` until it returns True; raise :class:`StackError` with context otherwise."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    raise StackError(f"{what} was not ready after {timeout:.0f} s.\n{on_fail()}")


def http_ok(url: str) -> bool:
    """True when ``url`` answers 2xx."""
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we built
        return 200 <= int(response.status) < 300


def _pdeathsig(sig: int) -> Callable[[], None]:
    """preexec_fn: deliver ``sig`` to the child when this process dies (Linux only)."""

    def set_signal() -> None:
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return set_signal


def _spawn(
    stack: Stack,
    name: str,
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    user: str | None = None,
    death_signal: int = signal.SIGTERM,
    stop_signal: int = signal.SIGTERM,
    cwd: Path | None = None,
) -> _Process:
    log = stack.workdir / "logs" / f"{name}.log"
    handle = log.open("ab")
    popen = subprocess.Popen(
        argv,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        extra_groups=[] if user else None,
        process_group=0,
        preexec_fn=_pdeathsig(death_signal) if sys.platform == "linux" else None,  # noqa: PLW1509
        cwd=cwd,
    )
    handle.close()
    proc = _Process(name, popen, log, stop_signal)
    stack._processes.append(proc)
    _write_state(stack)
    return proc


def _stop_group(
    popen: subprocess.Popen[bytes], stop_signal: int = signal.SIGTERM, grace: float = 15.0
) -> None:
    if popen.poll() is not None:
        # The leader is gone; its group may not be.
        _kill_group(popen.pid, signal.SIGKILL)
        return
    _kill_group(popen.pid, stop_signal)
    try:
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(popen.pid, signal.SIGKILL)
        popen.wait(timeout=5)
    # Children that ignored SIGTERM (uvicorn workers) go too.
    _kill_group(popen.pid, signal.SIGKILL)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return f"--- last lines of {path.name} ---\n" + "\n".join(text[-lines:])


# --------------------------------------------------------------------------------------------
# State files: what `aircast stack up` started, so `aircast stack down` can stop it.


def state_dir() -> Path:
    """Folder holding one JSON file per running stack."""
    configured = StackSettings().stack_state_dir
    if configured:
        return Path(configured)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "aircast" / "stacks"


def _state_file(workdir: Path) -> Path:
    return state_dir() / f"{workdir.name}.json"


def _write_state(stack: Stack) -> None:
    path = _state_file(stack.workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "owner_pid": os.getpid(),
        "workdir": str(stack.workdir),
        "pgids": stack.pids(),
        "containers": [],
    }
    path.write_text(json.dumps(state))


def stop_recorded_stacks() -> list[str]:
    """Stop every stack recorded in the state folder (``aircast stack down``).

    Returns a line per stack stopped. Signals the owner first so it tears down cleanly, then
    stops any process group still alive and removes the leftover folder.
    """
    stopped: list[str] = []
    folder = state_dir()
    if not folder.is_dir():
        return stopped
    for path in sorted(folder.glob("*.json")):
        try:
            state = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            path.unlink(missing_ok=True)
            continue
        owner = int(state.get("owner_pid", 0))
        if owner and owner != os.getpid() and _alive(owner):
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner, signal.SIGINT)
            deadline = time.monotonic() + 30
            while _alive(owner) and time.monotonic() < deadline:
                time.sleep(0.2)
        for pgid in state.get("pgids", []):
            _kill_group(int(pgid), signal.SIGTERM)
        time.sleep(0.5)
        for pgid in state.get("pgids", []):
            _kill_group(int(pgid), signal.SIGKILL)
        shutil.rmtree(state.get("workdir", ""), ignore_errors=True)
        path.unlink(missing_ok=True)
        stopped.append(f"stopped stack {path.stem} (owner pid {owner})")
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return status != "Z"
    return True


# --------------------------------------------------------------------------------------------
# Backend choice


def docker_available() -> bool:
    """True when a Docker engine answers a ping within 2 s."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - any failure means "no engine"
        return False


def choose_backend(settings: StackSettings | None = None) -> str:
    """``containers`` or ``local``, honouring ``AIRCAST_STACK``."""
    wanted = (settings or StackSettings()).stack
    if wanted == "auto":
        return "containers" if docker_available() else "local"
    if wanted == "containers" and not docker_available():
        raise StackError(
            "AIRCAST_STACK=containers but no Docker engine answers; start Docker or set "
            "AIRCAST_STACK=local."
        )
    return wanted


def project_root() -> Path:
    """The repository root (the folder holding hatch.toml)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "hatch.toml").is_file():
            return parent
    return Path.cwd()


def hatch_env_executable(env_name: str, executable: str) -> Path:
    """Path of ``executable`` inside the Hatch environment ``env_name``, creating it if needed."""
    hatch = shutil.which("hatch")
    if hatch is None:
        raise StackError("hatch is not on PATH; install it with `pip install hatch`.")
    root = project_root()
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("HATCH_ENV")}
    clean_env.pop("VIRTUAL_ENV", None)
    found = subprocess.run(
        [hatch, "env", "find", env_name],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env=clean_env,
    ).stdout.strip()
    path = Path(found) / "bin" / executable
    if not path.exists():
        subprocess.run([hatch, "env", "create", env_name], cwd=root, check=True, env=clean_env)
    if not path.exists():
        raise StackError(f"{executable} not found in the `{env_name}` Hatch environment ({path}).")
    return path


# --------------------------------------------------------------------------------------------
# Local backend


def _pg_bindir(settings: StackSettings) -> Path:
    if settings.pg_bindir:
        return Path(settings.pg_bindir)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "postgres").exists():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = Path(
            subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        if (bindir / "postgres").exists():
            return bindir
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise StackError(
        "PostgreSQL server binaries not found; install postgresql (Debian: apt-get install "
        "postgresql) or set AIRCAST_PG_BINDIR, or run a Docker engine."
    )


def _unprivileged_user() -> str | None:
    """The user to run PostgreSQL as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise StackError("running as root and no unprivileged user (postgres/nobody) exists.")


def _admin_execute(endpoints: Endpoints, *statements: str, database: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(endpoints.db_url(database), autocommit=True, connect_timeout=5) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _start_local_postgres(stack: Stack, settings: StackSettings) -> tuple[int, str, str]:
    bindir = _pg_bindir(settings)
    user = _unprivileged_user()
    pgdir = stack.workdir / "pg"
    pgdir.mkdir()
    password = secrets.token_urlsafe(16)
    pwfile = pgdir / "pwfile"
    pwfile.write_text(password)
    if user:
        uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
        # The unprivileged user must traverse the workdir and own the cluster folder.
        stack.workdir.chmod(0o711)
        os.chown(pgdir, uid, gid)
        os.chown(pwfile, uid, gid)
    initdb = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(pgdir / "data"),
            "-U",
            "postgres",
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        extra_groups=[] if user else None,
        check=False,
    )
    pwfile.unlink()
    if initdb.returncode != 0:
        raise StackError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
    port = free_port()
    _spawn(
        stack,
        "postgres",
        [
            str(bindir / "postgres"),
            "-D",
            str(pgdir / "data"),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={port}",
            "-c",
            f"unix_socket_directories={pgdir}",
            # A throwaway cluster: durability buys nothing here and costs test time.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        user=user,
        death_signal=signal.SIGQUIT,
        # SIGINT is PostgreSQL's "fast" shutdown: SIGTERM ("smart") waits for every client.
        stop_signal=signal.SIGINT,
    )
    return port, "postgres", password


def _start_moto(stack: Stack, bucket: str) -> tuple[str, str, str]:
    port = free_port()
    _spawn(stack, "s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
    return f"http://127.0.0.1:{port}", "aircast-local", secrets.token_urlsafe(16)


def _start_local_mlflow(stack: Stack, settings: StackSettings, partial: Endpoints) -> str:
    command = (
        Path(settings.mlflow_server_command)
        if settings.mlflow_server_command
        else hatch_env_executable("mlflow", "mlflow")
    )
    port = free_port()
    _spawn(
        stack,
        "mlflow",
        [
            str(command),
            "server",
            "--backend-store-uri",
            partial.db_url("mlflow", driver="psycopg"),
            "--artifacts-destination",
            f"s3://{partial.bucket}/mlartifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={
            "MLFLOW_S3_ENDPOINT_URL": partial.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": partial.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": partial.s3_secret_key,
            "AWS_DEFAULT_REGION": partial.region,
            **MLFLOW_SERVER_ENV,
        },
        cwd=stack.workdir,
    )
    return f"http://127.0.0.1:{port}"


def _start_local(stack: Stack, settings: StackSettings) -> Endpoints:
    pg_port, pg_user, pg_password = _start_local_postgres(stack, settings)
    s3_url, s3_key, s3_secret = _start_moto(stack, settings.stack_bucket)
    partial = Endpoints(
        backend="local",
        pg_host="127.0.0.1",
        pg_port=pg_port,
        pg_user=pg_user,
        pg_password=pg_password,
        reader_password=secrets.token_urlsafe(16),
        s3_endpoint_url=s3_url,
        s3_access_key=s3_key,
        s3_secret_key=s3_secret,
        bucket=settings.stack_bucket,
        mlflow_tracking_uri="",
    )
    _wait_postgres(stack, partial, settings.stack_ready_timeout)
    _prepare_databases(partial)
    _wait_s3(stack, partial, settings.stack_ready_timeout)
    _create_bucket(partial)
    tracking = _start_local_mlflow(stack, settings, partial)
    endpoints = Endpoints(**{**asdict(partial), "mlflow_tracking_uri": tracking})
    _wait_mlflow(stack, endpoints, settings.stack_ready_timeout)
    return endpoints


# --------------------------------------------------------------------------------------------
# Containers backend (GitHub's runners; a Docker engine). Thin by design: it shares
# Endpoints, database preparation, bucket creation and readiness with the local backend.


def _start_containers(stack: Stack, settings: StackSettings) -> Endpoints:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.image import DockerImage
    from testcontainers.core.network import Network
    from testcontainers.minio import MinioContainer
    from testcontainers.postgres import PostgresContainer

    network = Network().__enter__()
    stack._cleanups.append(lambda: network.__exit__(None, None, None))
    pg_password = secrets.token_urlsafe(16)
    postgres = (
        PostgresContainer(
            "postgres:15-alpine", username="postgres", password=pg_password, dbname="postgres"
        )
        .with_network(network)
        .with_network_aliases("postgres")
    )
    postgres.start()
    stack._cleanups.append(postgres.stop)
    minio = MinioContainer().with_network(network).with_network_aliases("minio")
    minio.start()
    stack._cleanups.append(minio.stop)
    minio_cfg = minio.get_config()
    partial = Endpoints(
        backend="containers",
        pg_host=postgres.get_container_host_ip(),
        pg_port=int(postgres.get_exposed_port(5432)),
        pg_user="postgres",
        pg_password=pg_password,
        reader_password=secrets.token_urlsafe(16),
        s3_endpoint_url=f"http://{minio_cfg['endpoint']}",
        s3_access_key=minio_cfg["access_key"],
        s3_secret_key=minio_cfg["secret_key"],
        bucket=settings.stack_bucket,
        mlflow_tracking_uri="",
    )
    _wait_postgres(stack, partial, settings.stack_ready_timeout)
    _prepare_databases(partial)
    _wait_s3(stack, partial, settings.stack_ready_timeout)
    _create_bucket(partial)
    image = DockerImage(
        path=str(project_root()),
        dockerfile_path="components/mlflow/Dockerfile",
        tag="aircast-mlflow:test",
    )
    image.build()
    mlflow = (
        DockerContainer(str(image))
        .with_network(network)
        .with_exposed_ports(5000)
        .with_env(
            "MLFLOW_BACKEND_STORE_URI",
            f"postgresql+psycopg://postgres:{pg_password}@postgres:5432/mlflow",
        )
        .with_env("MLFLOW_ARTIFACTS_DESTINATION", f"s3://{settings.stack_bucket}/mlartifacts")
        .with_env("MLFLOW_S3_ENDPOINT_URL", "http://minio:9000")
        .with_env("AWS_ACCESS_KEY_ID", partial.s3_access_key)
        .with_env("AWS_SECRET_ACCESS_KEY", partial.s3_secret_key)
        .with_env("MLFLOW_WORKERS", "1")
        .with_env(
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
            MLFLOW_SERVER_ENV["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"],
        )
    )
    mlflow.start()
    stack._cleanups.append(mlflow.stop)
    tracking = f"http://{mlflow.get_container_host_ip()}:{mlflow.get_exposed_port(5000)}"
    endpoints = Endpoints(**{**asdict(partial), "mlflow_tracking_uri": tracking})

    def dump_mlflow_logs() -> None:
        out, err = mlflow.get_logs()
        (stack.workdir / "logs" / "mlflow.log").write_bytes(out + err)

    try:
        _wait_mlflow(stack, endpoints, settings.stack_ready_timeout)
    finally:
        dump_mlflow_logs()
    return endpoints


# --------------------------------------------------------------------------------------------
# Readiness and preparation (shared by both backends)


def _wait_postgres(stack: Stack, endpoints: Endpoints, timeout: float) -> None:
    import psycopg

    def ready() -> bool:
        with psycopg.connect(endpoints.db_url("postgres"), connect_timeout=2):
            return True

    wait_until(
        ready,
        what="PostgreSQL",
        timeout=timeout,
        on_fail=lambda: _tail(stack.workdir / "logs" / "postgres.log"),
    )


def _prepare_databases(endpoints: Endpoints) -> None:
    _admin_execute(
        endpoints,
        f"CREATE ROLE {READER_ROLE} LOGIN PASSWORD '{endpoints.reader_password}'",
        *(f'CREATE DATABASE "{name}"' for name in DATABASES),
        f"GRANT CONNECT ON DATABASE aircast TO {READER_ROLE}",
    )


def _s3_client(endpoints: Endpoints) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoints.s3_endpoint_url,
        aws_access_key_id=endpoints.s3_access_key,
        aws_secret_access_key=endpoints.s3_secret_key,
        region_name=endpoints.region,
    )


def _wait_s3(stack: Stack, endpoints: Endpoints, timeout: float) -> None:
    wait_until(
        lambda: bool(_s3_client(endpoints).list_buckets()),
        what="S3 endpoint",
        timeout=timeout,
        on_fail=lambda: _tail(stack.workdir / "logs" / "s3.log"),
    )


def _create_bucket(endpoints: Endpoints) -> None:
    _s3_client(endpoints).create_bucket(Bucket=endpoints.bucket)


def _wait_mlflow(stack: Stack, endpoints: Endpoints, timeout: float) -> None:
    proc = next((p for p in stack._processes if p.name == "mlflow"), None)

    def ready() -> bool:
        if proc is not None and proc.popen.poll() is not None:
            raise StackError(
                f"mlflow server exited with code {proc.popen.returncode}.\n{_tail(proc.log)}"
            )
        return http_ok(f"{endpoints.mlflow_tracking_uri}/health")

    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except StackError:
            raise
        except Exception:  # noqa: BLE001,S110 - not up yet
            pass
        if time.monotonic() > deadline:
            raise StackError(
                f"MLflow server was not ready after {timeout:.0f} s.\n"
                + _tail(stack.workdir / "logs" / "mlflow.log")
            )
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# Entry point


@contextlib.contextmanager
def running_stack(
    settings: StackSettings | None = None, *, progress: Callable[[str], None] | None = None
) -> Iterator[Stack]:
    """Start the three services, yield the :class:`Stack`, and stop everything on exit.

    Teardown runs on normal exit, on exceptions and on KeyboardInterrupt; SIGTERM is turned into
    KeyboardInterrupt while the stack runs so ``kill`` also tears down cleanly.
    """
    settings = settings or StackSettings()
    backend = choose_backend(settings)
    workdir = Path(tempfile.mkdtemp(prefix="aircast-stack-"))
    (workdir / "logs").mkdir()
    started = time.monotonic()
    stack = Stack(endpoints=None, workdir=workdir)  # type: ignore[arg-type]
    _write_state(stack)
    previous = signal.getsignal(signal.SIGTERM)
    if hasattr(signal, "SIGTERM"):
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        if progress:
            progress(f"starting the {backend} stack in {workdir}")
        start = _start_containers if backend == "containers" else _start_local
        stack.endpoints = start(stack, settings)
        stack.started_seconds = time.monotonic() - started
        yield stack
    finally:
        stack.stop()
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
