"""`python -m stages.repro --address ...` on Ray's multi-node test cluster (a head and two
one-CPU worker nodes, token authentication on), with a directory as the DVC remote
through which the nodes take their inputs and hand back their results; a worker node
is lost while it trains."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness import ENV, ROOT, TIMED, Project
from services import TOKEN


@pytest.mark.slow
def test_a_cluster_gives_what_a_plain_repro_gives_though_a_node_is_lost(
        reproduced, reproduced_data, cluster, tmp_path):
    project = Project.create(tmp_path / "project", reproduced_data["url"],
                             reproduced_data["sha256"])
    project.dvc("remote", "add", "-d", "storage", tmp_path / "dvc-remote")
    project.commit("the team's DVC remote")
    process = subprocess.Popen([sys.executable, "-m", "stages.repro", "--address",
                                cluster.address], cwd=project.path,
                               env={**ENV, **TOKEN, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, lost = [], None
    for line in process.stdout:
        lines.append(line)
        if not lost and sum(line.startswith("repro: started train@") for line in lines) == 2:
            time.sleep(4)  # both workers are training: one of them goes away
            lost = next(iter(cluster.worker_nodes))
            cluster.remove_node(lost, allow_graceful=False)
            cluster.add_node(num_cpus=1)
    process.wait(timeout=120)
    output = "".join(lines)
    assert process.returncode == 0, output + process.stderr.read()
    assert lost and "Traceback" not in output
    done = [line for line in lines if line.startswith(("repro: done train@",
                                                       "repro: done evaluate@"))]
    assert len(done) == 6 and not any(lost.node_id[:8] in line for line in done), output
    ours, theirs = project.lock_hashes(), reproduced.lock_hashes()
    assert {path for path in theirs if ours[path] != theirs[path]} <= TIMED
    assert project.status() == {}
