"""The warm start's server: TensorFlow imported once, a forked child per stage.

DVC runs every stage as its own command (`python -m stages.pipeline.train m`),
and each would import TensorFlow afresh: seconds per stage, more than a small
model's training. As build tools do (Gradle's daemon, Python's forkserver), this
process imports TensorFlow once, runs no TensorFlow op (so no thread pool
exists yet, and the thread counts on which results depend can still be set),
and forks a child for each stage. The stage's command stays what DVC runs,
decides on and records (`stages.tools.warm.client` hands it over). If the
stage's command dies, its child is killed; children die with the server.

A server is keyed by everything that decides what its TensorFlow is
(`client.key`); it ends after IDLE_SECONDS (MNIST_ZOO_WARM_IDLE, 60 by
default) with no stage running: long enough for the next edit of a working
session to find it, short enough to leave nothing behind for long.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path

from stages.tools.children import die_with_parent
from stages.tools.warm.client import IN_CHILD, receive, send

# Imported once, here: stages.modeling.backend sets TensorFlow's environment first.
PRELOAD = ("stages.modeling.backend", "matplotlib.figure", "matplotlib.backends.backend_agg",
           "onnxruntime", "tf2onnx.convert", "PIL.Image")  # tf2onnx.convert: 0.1 s an export
IDLE_SECONDS = float(os.environ.get("MNIST_ZOO_WARM_IDLE", "60"))


def serve(path: Path) -> None:
    """Listen at `path`, import TensorFlow, fork a child per stage; end when idle."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o077)  # the socket is this user's; the stages' files keep their umask
    listener.bind(str(path))
    os.umask(umask)
    listener.listen(64)
    ours = path.stat().st_ino
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
        request = receive(connection)
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
        send(connection, {"pid": pid})


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
                send(connection, {"exit": code})
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
    import io

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for sock in sockets:
        sock.close()
    die_with_parent()
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
