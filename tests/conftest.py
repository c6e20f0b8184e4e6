"""Fixtures for Arca's end-to-end tests.

The tests run the real `arca` binary (ARCA_BIN, which scripts/test builds) on
a fresh data directory and a free port, and drive it with real S3 clients:
boto3, the aws cli, s3cmd and rclone. Nothing here builds anything.

- `server`: one server for the whole session; tests keep out of each other's
  way by using their own buckets (`bucket` / `make_bucket`).
- `ArcaServer`: start more servers (crash, shutdown and memory tests need
  their own, and restart them on the same data directory).
- `client(...)`: boto3 clients with retries off, so error codes surface.
- `aws`, `s3cmd`, `rclone`: run those tools against a server.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ARCA_BIN = os.environ.get("ARCA_BIN", "/work/target/debug/arca")
ROOT_ACCESS_KEY = os.environ.get("ARCA_ROOT_ACCESS_KEY", "ARCATESTROOTKEY00001")
ROOT_SECRET_KEY = os.environ.get("ARCA_ROOT_SECRET_KEY", "arca-test-root-secret-0123456789abcdef")
REGION = "us-east-1"
# The venv's tools come first: scripts/test puts them on PATH, a bare pytest
# run may not.
TOOL_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ArcaServer:
    """One `arca server` process on a data directory that outlives it."""

    def __init__(self, data_dir, port=None, domain=None, env=None, args=None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.domain = domain
        self.extra_env = env or {}
        self.extra_args = list(args or [])
        self.proc = None
        self.starts = 0

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self):
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self, timeout=60):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        args = [ARCA_BIN, "server", "--data", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}"]
        if self.domain:
            args += ["--domain", self.domain]
        args += self.extra_args
        env = dict(os.environ)
        env.update(
            ARCA_ROOT_ACCESS_KEY=ROOT_ACCESS_KEY,
            ARCA_ROOT_SECRET_KEY=ROOT_SECRET_KEY,
            ARCA_LOG=os.environ.get("ARCA_LOG", "warn"),
        )
        env.update(self.extra_env)
        out_path = self.data_dir.parent / f"{self.data_dir.name}.out{self.starts}"
        self.out = open(out_path, "wb")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"arca server exited with {self.proc.returncode}: {self.tail_log()}")
            if b"arca: listening on http://" in out_path.read_bytes():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"arca server did not start within {timeout}s: {self.tail_log()}")

    def tail_log(self, n=4000):
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout=60):
        """SIGTERM, then wait; returns the exit code (None if it hung)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def status(self, field):
        """A field of /proc/PID/status in bytes (VmRSS, VmHWM, ...)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                value, unit = line.split()[1:3]
                assert unit == "kB"
                return int(value) * 1024
        raise KeyError(field)

    def client(self, **kwargs):
        return client(self, **kwargs)


def client(server, access_key=ROOT_ACCESS_KEY, secret_key=ROOT_SECRET_KEY, addressing="path", **config):
    """A boto3 S3 client for `server`: SigV4, no retries (error codes surface
    as they are), the given addressing style."""
    endpoint = server.endpoint
    if addressing == "virtual":
        endpoint = f"http://{server.domain}:{server.port}"
    options = dict(
        signature_version="s3v4",
        s3={"addressing_style": addressing},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
    )
    options.update(config)
    cfg = Config(**options)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=cfg,
    )


def error_of(excinfo_or_exc):
    """(S3 error code, HTTP status) of a botocore ClientError."""
    exc = getattr(excinfo_or_exc, "value", excinfo_or_exc)
    assert isinstance(exc, ClientError), repr(exc)
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def unique_name(prefix="b"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def keys_of(s3, bucket, **kwargs):
    """Every key of a bucket (one page is enough for the tests' buckets)."""
    resp = s3.list_objects_v2(Bucket=bucket, **kwargs)
    assert not resp["IsTruncated"]
    return [o["Key"] for o in resp.get("Contents", [])]


def object_absent(s3, bucket, key):
    """True if `key` is neither readable nor listed."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as e:
        assert error_of(e) == ("404", 404), e.response
    return key not in keys_of(s3, bucket)


@pytest.fixture(scope="session")
def tmp_root():
    path = Path(tempfile.mkdtemp(prefix="arca-e2e-"))
    yield path
    if os.environ.get("ARCA_KEEP_TMP") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_root):
    srv = ArcaServer(tmp_root / "main").start()
    yield srv
    code = srv.terminate()
    assert code == 0, f"the session server exited with {code}: {srv.tail_log()}"


@pytest.fixture
def start_server(tmp_path):
    """Starts servers of the test's own on data directories under tmp_path;
    each is stopped (killed if need be) when the test ends."""
    started = []

    def start(name="srv", **kwargs):
        srv = ArcaServer(tmp_path / name, **kwargs).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.kill()


@pytest.fixture(scope="session")
def s3(server):
    return client(server)


@pytest.fixture
def make_bucket(s3):
    def make(prefix="b", s3_client=None):
        name = unique_name(prefix)
        (s3_client or s3).create_bucket(Bucket=name)
        return name

    return make


@pytest.fixture
def bucket(make_bucket):
    return make_bucket()


class Tool:
    """Runs a command-line client with a clean environment."""

    def __init__(self, argv0, env):
        self.argv0 = argv0
        self.env = env

    def __call__(self, *args, check=True, input=None, timeout=600):
        proc = subprocess.run(
            [self.argv0, *map(str, args)],
            env=self.env,
            input=input,
            capture_output=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{self.argv0} {' '.join(map(str, args))} exited with {proc.returncode}\n"
                f"stdout: {proc.stdout.decode(errors='replace')[-3000:]}\n"
                f"stderr: {proc.stderr.decode(errors='replace')[-3000:]}"
            )
        return proc


def tool_env(tmp, **extra):
    env = {
        "PATH": TOOL_PATH,
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
    }
    env.update(extra)
    return env


@pytest.fixture
def aws(server, tmp_path):
    """The aws cli (v1, from the venv) with root credentials."""
    return aws_for(server, tmp_path)


def aws_for(server, tmp, access_key=ROOT_ACCESS_KEY, secret_key=ROOT_SECRET_KEY, **extra_env):
    env = tool_env(
        tmp,
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp / "aws-config-absent"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "aws-credentials-absent"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
    )
    env.update(extra_env)
    run = Tool(shutil.which("aws", path=TOOL_PATH), env)

    def aws(*args, **kwargs):
        return run("--endpoint-url", server.endpoint, *args, **kwargs)

    return aws


@pytest.fixture
def s3cmd(server, tmp_path):
    cfg = tmp_path / "s3cmd.cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {ROOT_ACCESS_KEY}\n"
        f"secret_key = {ROOT_SECRET_KEY}\n"
        f"host_base = 127.0.0.1:{server.port}\n"
        f"host_bucket = 127.0.0.1:{server.port}\n"
        "bucket_location = us-east-1\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "check_ssl_certificate = False\n"
        "progress_meter = False\n"
    )
    run = Tool(shutil.which("s3cmd", path=TOOL_PATH), tool_env(tmp_path))

    def s3cmd(*args, **kwargs):
        return run("-c", cfg, *args, **kwargs)

    return s3cmd


@pytest.fixture
def rclone(server, tmp_path):
    """rclone with a remote named `arca:` configured from the environment."""
    exe = shutil.which("rclone", path=TOOL_PATH)
    if exe is None:
        pytest.fail("rclone is not installed (.ci/run installs it from apt)")
    env = tool_env(
        tmp_path,
        RCLONE_CONFIG=str(tmp_path / "rclone-absent.conf"),
        RCLONE_CONFIG_ARCA_TYPE="s3",
        RCLONE_CONFIG_ARCA_PROVIDER="Other",
        RCLONE_CONFIG_ARCA_ENDPOINT=server.endpoint,
        RCLONE_CONFIG_ARCA_ACCESS_KEY_ID=ROOT_ACCESS_KEY,
        RCLONE_CONFIG_ARCA_SECRET_ACCESS_KEY=ROOT_SECRET_KEY,
        RCLONE_CONFIG_ARCA_REGION=REGION,
        RCLONE_CONFIG_ARCA_FORCE_PATH_STYLE="true",
    )
    return Tool(exe, env)


@pytest.fixture
def arca(server, tmp_path):
    """The `arca` command (key, bucket) against the session server, signed
    with the root key unless other credentials are given."""

    def arca(*args, access_key=ROOT_ACCESS_KEY, secret_key=ROOT_SECRET_KEY, check=True):
        env = tool_env(
            tmp_path,
            ARCA_ROOT_ACCESS_KEY=access_key,
            ARCA_ROOT_SECRET_KEY=secret_key,
        )
        return Tool(ARCA_BIN, env)(*args, "--endpoint", server.endpoint, check=check)

    return arca


def slow_tests_skipped():
    return os.environ.get("ARCA_SKIP_SLOW") == "1"
