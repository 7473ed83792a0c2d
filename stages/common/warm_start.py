"""A warm start for the stages that need TensorFlow: its import paid once per run, not per stage.

DVC runs every stage as its own command (`python -m stages.pipeline.train m`),
and each would import TensorFlow afresh: seconds per stage, more than a small
model's training. As build tools do (Gradle's daemon, Python's forkserver), a
server process imports TensorFlow once, runs no TensorFlow op (so no thread
pool exists yet, and the thread counts on which results depend can still be
set), and forks a child for each stage. The stage's command stays what DVC
runs, decides on and records: it connects, hands the server its argv, working
directory, environment and its own stdin/stdout/stderr (file descriptors over
the socket), and exits with the child's exit code. Its signals (Ctrl-C, DVC or
a scheduler stopping it) are passed on to the child; if it dies, the child is
killed.

The server is keyed by everything that decides what its TensorFlow is: the
Python executable and its import path, the versions of TensorFlow, Keras and
numpy, TensorFlow's environment variables, and this file. The first stage
that finds none starts one (`validate` and `stages.repro` start it ahead, so
that it imports while the first stages run); it ends after IDLE_SECONDS
(MNIST_ZOO_WARM_IDLE, 60 by default) with no stage running: long enough for
the next edit of a working session to find it, short enough to leave nothing
behind for long.
`MNIST_ZOO_WARM=0` turns the warm start off (every stage imports TensorFlow
itself, as before); so does
`MNIST_ZOO_TF_LOG=1`, which shows TensorFlow's own start-up log. The outputs
are the same bytes either way (tests/pipeline/test_warm_start.py).
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

# What stages/modeling/backend.py sets before it imports TensorFlow: the children's
# TensorFlow is the server's, so the server sets them first (backend reads them here).
TENSORFLOW_ENVIRONMENT = {"TF_ENABLE_ONEDNN_OPTS": "1"}  # oneDNN's kernels, whatever the shell
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "2"}         # a default: the shell's wins
PRELOAD = ("tensorflow", "keras", "matplotlib.figure", "matplotlib.backends.backend_agg",
           "onnxruntime", "tf2onnx", "PIL.Image")
IDLE_SECONDS = float(os.environ.get("MNIST_ZOO_WARM_IDLE", "60"))
SWITCH = "MNIST_ZOO_WARM"  # "0": off
IN_CHILD = "MNIST_ZOO_WARM_CHILD"
MAX_SOCKET_PATH = 107  # bytes: what a Unix socket's address holds, less its final zero
KEY_ENVIRONMENT = ("TF_", "OMP_", "KMP_", "MKL_", "CUDA_", "MNIST_ZOO_", "PYTHONHASHSEED")


def enabled() -> bool:
    """On unless switched off, or TensorFlow's own log was asked for, or we are the child."""
    return (os.environ.get(SWITCH, "1") != "0" and os.environ.get("MNIST_ZOO_TF_LOG") != "1"
            and IN_CHILD not in os.environ and hasattr(socket, "send_fds"))


def run(module: str, main: Callable[[], None]) -> None:
    """A TensorFlow stage's entry point: in a child of the warm server, or, with the warm
    start off (or no server to be had), here, as `cli.run(main)`."""
    from stages.common.cli import run as run_here

    if not enabled():
        run_here(main)
        return
    try:
        connection = connect()
        pid = _hand_over(connection, module)
    except OSError as error:  # no server to be had: the cold way, as before
        print(f"warning: no warm start ({error}); this stage imports TensorFlow itself",
              file=sys.stderr, flush=True)
        run_here(main)
        return
    sys.exit(_wait(connection, pid))


# The key and the socket ------------------------------------------------------------

def key() -> str:
    """What decides the server's TensorFlow, hashed."""
    versions = {name: importlib.metadata.version(name) for name in ("tensorflow", "keras",
                                                                     "numpy")}
    settings = {name: value for name, value in sorted(os.environ.items())
                if name.startswith(KEY_ENVIRONMENT) and name != IN_CHILD}
    source = Path(__file__).read_bytes()
    material = json.dumps([sys.executable, sys.path[1:], versions, settings,
                           hashlib.sha256(source).hexdigest()])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


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


def connect() -> socket.socket:
    """A connection to the running server, starting one if there is none (one at a time:
    stages started together take turns)."""
    path = socket_path()
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _connect(path)
        except OSError:
            path.unlink(missing_ok=True)  # a server that died leaves its socket
            _spawn(path)
            for _ in range(200):  # it binds at once, before it imports TensorFlow
                with contextlib.suppress(OSError):
                    return _connect(path)
                time.sleep(0.05)
            raise


def start_ahead() -> None:
    """Start a server now, without waiting for it: it imports TensorFlow while the stages
    before the first model stage run."""
    if not enabled():
        return
    path = socket_path()
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _connect(path).close()
        except OSError:
            path.unlink(missing_ok=True)
            _spawn(path)


def _connect(path: Path) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        raise
    return connection


def _spawn(path: Path) -> None:
    log = path.with_suffix(".log").open("w")
    checkout = Path(__file__).resolve().parents[2]  # this code's, whatever the directory
    subprocess.Popen([sys.executable, "-m", "stages.common.warm_start", str(path)],
                     cwd=checkout, stdin=subprocess.DEVNULL, stdout=log,
                     stderr=log, start_new_session=True, close_fds=True)
    log.close()


# Messages: 4-byte length, then JSON --------------------------------------------------

def _send(connection: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    connection.sendall(struct.pack("!I", len(data)) + data)


def _receive(connection: socket.socket) -> dict | None:
    """The next message, or None when the other side has gone."""
    head = _exactly(connection, 4)
    if head is None:
        return None
    body = _exactly(connection, struct.unpack("!I", head)[0])
    return None if body is None else json.loads(body)


def _exactly(connection: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# The client: a stage's command ------------------------------------------------------

def _hand_over(connection: socket.socket, module: str) -> int:
    """Give the server the stage (and our stdin, stdout, stderr); the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(connection, [b"F"], [0, 1, 2])
    _send(connection, {"module": module, "argv": sys.argv[1:], "cwd": os.getcwd(),
                       "env": dict(os.environ)})
    started = _receive(connection)
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
    ended = _receive(connection)
    if ended is None:
        print("error: the warm start server stopped while the stage ran; run it again "
              f"(or with {SWITCH}=0)", file=sys.stderr)
        return 1
    code = ended["exit"]
    if code < 0:  # ended by a signal: end the same way, as the shell and DVC expect
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


# The server -------------------------------------------------------------------------

def serve(path: Path) -> None:
    """Listen at `path`, import TensorFlow, fork a child per stage; end when idle."""
    os.umask(0o077)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    ours = path.stat().st_ino
    for name, value in TENSORFLOW_ENVIRONMENT.items():
        os.environ[name] = value
    for name, value in QUIET_TENSORFLOW.items():
        os.environ.setdefault(name, value)
    for name in PRELOAD:  # nothing more: no op runs here, so no thread pool exists
        with contextlib.suppress(ImportError):
            __import__(name)
    _draw_nothing()
    children: dict[int, socket.socket] = {}
    idle_since = time.monotonic()
    try:
        while _wanted(path, children, idle_since):
            ready = _select([listener, *children.values()])
            if listener in ready:
                _start_child(listener, children, path)
            for pid, connection in list(children.items()):
                if connection in ready and not connection.recv(1, socket.MSG_PEEK):
                    with contextlib.suppress(ProcessLookupError):  # its command has gone
                        os.kill(pid, signal.SIGKILL)
            if _reap(children) or children:
                idle_since = time.monotonic()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == ours:  # not a newer server's
                path.unlink()
                path.with_suffix(".log").unlink()  # TensorFlow's start-up chatter


def _draw_nothing() -> None:
    """A text on an empty figure, drawn to PNG in memory: matplotlib loads its fonts and
    the modules it imports on first use here, once, rather than in every evaluation."""
    import io

    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    figure.subplots().text(0.5, 0.5, "0")
    figure.savefig(io.BytesIO(), format="png")


def _wanted(path: Path, children: dict, idle_since: float) -> bool:
    """Serve on while a stage runs, or until IDLE_SECONDS with none (or the socket gone)."""
    if children:
        return True
    return time.monotonic() - idle_since <= IDLE_SECONDS and path.exists()


def _select(sockets: list[socket.socket]) -> list[socket.socket]:
    import select

    ready, _, _ = select.select(sockets, [], [], 0.2)
    return ready


def _start_child(listener: socket.socket, children: dict, path: Path) -> None:
    connection, _ = listener.accept()
    connection.settimeout(5)  # a client that connects and says nothing holds nothing
    try:
        _, fds, _, _ = socket.recv_fds(connection, 1, 3)
        request = _receive(connection)
    except (OSError, ValueError):
        connection.close()
        return
    if request is None or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        connection.close()
        return
    pid = os.fork()
    if pid == 0:
        _child(request, fds, [listener, *children.values(), connection])
    for fd in fds:
        os.close(fd)
    connection.settimeout(None)
    children[pid] = connection
    with contextlib.suppress(OSError):
        _send(connection, {"pid": pid})


def _reap(children: dict) -> bool:
    """Tell each ended child's command how it ended; True if any had."""
    ended = False
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended = True
        connection = children.pop(pid, None)
        if connection is not None:
            code = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                    else os.WEXITSTATUS(status))
            with contextlib.suppress(OSError):
                _send(connection, {"exit": code})
            connection.close()
    return ended


def _child(request: dict, fds: list[int], sockets: list[socket.socket]) -> None:
    """Become the stage (`_become`), run its module as `__main__` with the project
    imported afresh from its directory, and exit as it did."""
    import atexit

    code = 1
    try:
        _become(request, fds, sockets)
        code = _run_module(request["module"])
        atexit._run_exitfuncs()
    except BaseException:  # the stage's own crash, shown as Python shows it
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _become(request: dict, fds: list[int], sockets: list[socket.socket]) -> None:
    """Take the stage's descriptors, signals, directory, environment and argv; die with
    the server; forget the server's own `stages` modules."""
    import ctypes
    import io

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for sock in sockets:
        sock.close()
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the server
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False),
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True,
                                  errors="backslashreplace")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[IN_CHILD] = "1"
    for name in [name for name in sys.modules if name.split(".")[0] == "stages"]:
        del sys.modules[name]
    sys.path[0] = request["cwd"]
    sys.argv = [request["module"], *request["argv"]]


def _run_module(module: str) -> int:
    """Run the stage's module as `python -m` would; its exit code."""
    import runpy

    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as stop:
        if not isinstance(stop.code, int | None):
            print(stop.code, file=sys.stderr)
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
