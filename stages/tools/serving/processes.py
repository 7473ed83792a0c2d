"""The app on the machine: a listening socket and an answering process per core.

The sockets are bound before any process is forked, one per process on the same port
(SO_REUSEPORT: the kernel spreads the connections evenly between them, where one shared
socket lets whichever process wakes first take them all). Each process loads the
models and runs the app under Hypercorn's asyncio server on its socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys

from stages.common.cli import UserError
from stages.tools.children import die_with_parent
from stages.tools.serving.app import BODY_SECONDS, TIMEOUT, create
from stages.tools.serving.zoo import Zoo


def listen(host: str, port: int, processes: int) -> list[socket.socket]:
    """A listening socket per process on one port; one line if the port is taken."""
    try:
        with socket.create_server((host, port)) as probe:  # nobody else listens there
            port = probe.getsockname()[1]
        return [socket.create_server((host, port), backlog=1024, reuse_port=True)
                for _ in range(processes)]
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror}): is another "
                        "server using it? Choose another with --port") from None


def _answer(listening: socket.socket, zoo: Zoo) -> None:
    """One process's life: load the models in the background, serve until terminated."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{listening.fileno()}"]
    config.keep_alive_timeout = TIMEOUT  # from a connection's start or last answer to its headers
    config.read_timeout = int(BODY_SECONDS + TIMEOUT)  # a backstop: the app times bodies
    config.backlog = 1024
    config.accesslog = config.errorlog = None  # a line per request is noise here
    zoo.load_in_background()

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve(create(zoo), config, shutdown_trigger=stop.wait)

    asyncio.run(main())


def _more_files() -> None:
    """As many open files as the system allows this user: every connection is one, and
    the usual soft limit (1,024) is a thousand idle sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))


def serve(sockets: list[socket.socket], runtime: str) -> None:
    """Fork a process per socket that loads the models and answers on it; end them all on
    Ctrl-C or a terminate signal."""
    zoo = Zoo(runtime)  # checks there are models before anything forks
    _more_files()
    children = []
    for listening in sockets:
        pid = os.fork()
        if pid == 0:  # a process of its own: its models, its event loop
            die_with_parent(signal.SIGTERM)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends it
            try:
                _answer(listening, zoo)
            except Exception as error:  # a forked child: one line, then out
                print(f"serve: a process stopped: {type(error).__name__}: {error}",
                      file=sys.stderr, flush=True)
                os._exit(1)
            os._exit(0)
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a terminate ends them too
    try:
        while children:
            pid, _ = os.wait()
            children.remove(pid)
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for listening in sockets:
            listening.close()
        sys.stdout.flush()
