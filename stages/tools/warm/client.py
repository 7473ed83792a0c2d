"""The warm start's client: the one door from the pipeline's stages to the tools around them.

A TensorFlow stage's entry point is `run(module, main)`. With the warm start
on, it hands itself to a server that imported TensorFlow once
(`stages.tools.warm.server`) and waits for the forked child; with it off, or
where it cannot run, it calls `main` here, as a plain process. The outputs are
the same bytes either way (tests/pipeline/test_warm_start.py).

It runs on Linux only: the child dies with the server through Linux's
`prctl(PR_SET_PDEATHSIG)`, and forking a process that imported TensorFlow is
safe only where fork is the platform's way (not macOS). Elsewhere each stage
imports TensorFlow itself and says so in one line. `MNIST_ZOO_WARM=0` turns it
off, as does `MNIST_ZOO_TF_LOG=1` (TensorFlow's own start-up log).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SWITCH = "MNIST_ZOO_WARM"  # "0": off
IN_CHILD = "MNIST_ZOO_WARM_CHILD"
MAX_SOCKET_PATH = 107  # bytes: what a Unix socket's address holds, less its final zero
KEY_ENVIRONMENT = ("TF_", "OMP_", "KMP_", "MKL_", "CUDA_", "MNIST_ZOO_", "PYTHONHASHSEED")
HERE = Path(__file__).resolve().parent
PLATFORM = sys.platform  # what decides: a test sets another to take the other path


def supported() -> bool:
    """Linux, with descriptors passed over sockets: where the server can run."""
    return PLATFORM.startswith("linux") and hasattr(socket, "send_fds")


def enabled() -> bool:
    """On unless switched off, or TensorFlow's own log was asked for, or we are the child,
    or the platform cannot fork a warm server."""
    return (os.environ.get(SWITCH, "1") != "0" and os.environ.get("MNIST_ZOO_TF_LOG") != "1"
            and IN_CHILD not in os.environ and supported())


def run(module: str, main: Callable[[], None]) -> None:
    """A TensorFlow stage's entry point: in a child of the warm server, or here, as
    `cli.run(main)`, with the warm start off or not to be had."""
    from stages.common.cli import run as run_here

    if not enabled():
        if not supported() and os.environ.get(SWITCH, "1") != "0":
            print(f"warm start: off on {PLATFORM} (it needs Linux); this stage imports "
                  "TensorFlow itself", file=sys.stderr, flush=True)
        run_here(main)
        return
    try:
        connection = connect()
        pid = _hand_over(connection, module)
    except OSError as error:  # no server to be had: the cold way
        print(f"warning: no warm start ({error}); this stage imports TensorFlow itself",
              file=sys.stderr, flush=True)
        run_here(main)
        return
    sys.exit(_wait(connection, pid))


def start_ahead() -> None:
    """Start a server now, without waiting for it: it imports TensorFlow while the stages
    before the first model stage run."""
    if not enabled():
        return
    with _locked() as path:
        try:
            _connect(path).close()
        except OSError:
            _spawn(path)


# The key and the socket ------------------------------------------------------------

def key() -> str:
    """What decides the server's TensorFlow, hashed: the interpreter and its path, the
    library versions, TensorFlow's environment and the warm start's own code."""
    versions = {name: _version(name) for name in ("tensorflow", "keras", "numpy")}
    settings = {name: value for name, value in sorted(os.environ.items())
                if name.startswith(KEY_ENVIRONMENT) and name != IN_CHILD}
    code = [hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(HERE.glob("*.py"))]
    material = json.dumps([sys.executable, sys.path[1:], versions, settings, code])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:  # the stage itself will say so
        return "not installed"


def socket_path() -> Path:
    """This user's socket for `key()`, in a folder only they can enter."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    folder = base / f"mnist-zoo-warm-{os.getuid()}"
    path = folder / f"{key()}.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise OSError(f"its socket path would be {len(os.fsencode(path))} bytes, more than "
                      f"a socket takes ({MAX_SOCKET_PATH}): set XDG_RUNTIME_DIR to a shorter "
                      "folder")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked():
    """The socket's path, held by this process alone (stages started together take turns)."""
    path = socket_path()
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path


def connect() -> socket.socket:
    """A connection to the running server, starting one if there is none."""
    with _locked() as path:
        try:
            return _connect(path)
        except OSError:
            _spawn(path)
        for _ in range(200):  # it binds at once, before it imports TensorFlow
            with contextlib.suppress(OSError):
                return _connect(path)
            time.sleep(0.05)
        return _connect(path)


def _connect(path: Path) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        raise
    return connection


def _spawn(path: Path) -> None:
    path.unlink(missing_ok=True)  # a server that died leaves its socket
    checkout = str(HERE.parents[2])  # this code's, whatever the directory
    search = os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")]))
    with path.with_suffix(".log").open("w") as log:  # in no project's folder: it outlives runs
        subprocess.Popen([sys.executable, "-m", "stages.tools.warm.server", str(path)],
                         cwd="/", env={**os.environ, "PYTHONPATH": search},
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)


# Messages: 4-byte length, then JSON --------------------------------------------------

def send(connection: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    connection.sendall(struct.pack("!I", len(data)) + data)


def receive(connection: socket.socket) -> dict | None:
    """The next message, or None when the other side has gone."""
    head = _exactly(connection, 4)
    body = None if head is None else _exactly(connection, struct.unpack("!I", head)[0])
    return None if body is None else json.loads(body)


def _exactly(connection: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# The stage's side ---------------------------------------------------------------------

def _hand_over(connection: socket.socket, module: str) -> int:
    """Give the server the stage (and our stdin, stdout, stderr); the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(connection, [b"F"], [0, 1, 2])
    send(connection, {"module": module, "argv": sys.argv[1:], "cwd": os.getcwd(),
                      "env": dict(os.environ)})
    started = receive(connection)
    if not started:
        raise ConnectionError("the warm start server did not start the stage")
    return started["pid"]


def _wait(connection: socket.socket, pid: int) -> int:
    """Pass our signals on to the child until it ends; its exit code (a signal that
    ended it ends us the same way)."""
    def forward(number, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(number, forward)
    ended = receive(connection)
    if ended is None:
        print("error: the warm start server stopped while the stage ran; run it again "
              f"(or with {SWITCH}=0)", file=sys.stderr)
        return 1
    code = ended["exit"]
    if code < 0:  # ended by a signal: end the same way, as the shell and DVC expect
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code
