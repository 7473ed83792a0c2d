"""The benchmarks' timing hook: where each stage process's time goes.

`benchmarks/end_to_end.py` puts this folder on PYTHONPATH and names a file in
MNIST_ZOO_TIMINGS; Python then loads this module in every process it starts,
DVC's and the stages' alike. It listens to the `stages.common.phases` logger
the stages report their phases to (`stages/common/phases.py`) and, when a stage
process exits, appends one JSON line: the stage (DVC's DVC_STAGE), the seconds
from process start to the stage's `main` (interpreter start and imports), the
seconds of each phase, the whole process's seconds and when it ended. A stage's
process that handed the stage to the warm start (which forks the process that has
the phases) writes a line marked `client`: its span is the stage's, the wait for the
server included. The stages never import this file, so editing it reruns nothing.
"""

import atexit
import json
import logging
import os
import sys
import time

TIMINGS = os.environ.get("MNIST_ZOO_TIMINGS")


def _since_process_start() -> float:
    """Seconds since the kernel started this process (Linux)."""
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")


class _Phases(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "phase", None)
        if name == "main":
            self.seconds.setdefault("start-up", _since_process_start())
        elif name:
            self.seconds[name] = self.seconds.get(name, 0.0) + record.seconds

    def write(self) -> None:
        stage = os.environ.get("DVC_STAGE", "?")
        if self.seconds:  # a stage ran in this process
            record = {"stage": stage, **self.seconds}
        elif "stages/pipeline/" in sys.argv[0]:  # a stage that handed itself to the warm start
            record = {"stage": stage, "client": True}
        else:
            return
        record.update(process=_since_process_start(), ended=time.time())
        with open(TIMINGS, "a") as out:
            out.write(json.dumps(record) + "\n")


if TIMINGS:
    _handler = _Phases()
    _logger = logging.getLogger("stages.common.phases")
    _logger.setLevel(logging.DEBUG)
    _logger.propagate = False
    _logger.addHandler(_handler)
    atexit.register(_handler.write)
