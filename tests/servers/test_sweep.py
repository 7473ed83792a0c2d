"""Sweeps on a Ray cluster, end to end: Ray's own multi-node test cluster (a head
and two worker nodes, separate processes on 127.0.0.1, token authentication on),
a bare git repository as the git remote, a directory as the DVC remote, the real
`dvc` CLI on every node, synthetic data, one epoch."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from harness import ENV, ROOT, error_lines, experiments, run, without_timing
from services import TOKEN, free_port

QS = "models.quickstart"


def env(tmp_path) -> dict:
    return {**ENV, **TOKEN, "MNIST_ZOO_NODE_DIR": str(tmp_path / "nodes"),
            "PYTHONPATH": str(ROOT)}


def sweep(project, tmp_path, *args, check=False) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "stages.sweep", *args], project.path, check=check,
               env=env(tmp_path), timeout=900)


def test_a_bad_override_is_refused_before_anything_is_scheduled(team, tmp_path):
    project = team["project"]
    for override, message in ((f"{QS}.epoch=1,2", f"unknown key {QS}.epoch (did you mean "
                                                   "'epochs'?)"),
                              (f"{QS}.batch_size=0,32", f"{QS}.batch_size must be greater "
                                                        "than 0, got 0")):
        result = sweep(project, tmp_path, "-S", override)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        [line] = error_lines(result)
        assert message in line and override.split(",")[0] in line, line
    assert not (tmp_path / "nodes").exists()  # nothing reached Ray


@pytest.mark.slow
def test_a_sweep_survives_a_lost_node_and_every_trial_comes_home(team, cluster, tmp_path):
    project = team["project"]
    process = subprocess.Popen(
        [sys.executable, "-m", "stages.sweep", "--address", cluster.address,
         "-S", f"{QS}.optimizer.Adam.learning_rate=0.001,0.003", "-S", f"{QS}.batch_size=64"],
        cwd=project.path, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    killed, lines = None, []
    for line in process.stdout:
        lines.append(line)
        started = re.match(r"sweep: started (\S+) on \S+/(\w+)", line)
        if started and killed is None:  # the node running the first trial goes away
            time.sleep(3)  # mid-trial
            node = next(n for n in cluster.worker_nodes if n.node_id.startswith(started[2]))
            cluster.remove_node(node, allow_graceful=False)
            cluster.add_node(num_cpus=1)
            killed = started[1]
    process.wait(timeout=60)
    output = "".join(lines)
    assert process.returncode == 0, output + process.stderr.read()
    assert killed and f"sweep: done {killed}" in output, output
    found = experiments(project)
    names = sorted(n for n in found if n.startswith("sweep-"))
    assert len(names) == 2 and all(len(found[n]) == 1 for n in names)  # each exactly once
    settings = {(d["params"]["params.yaml"]["data"]["models"]["quickstart"]["optimizer"]["Adam"]
                 ["learning_rate"], d["params"]["params.yaml"]["data"]["models"]["quickstart"]
                 ["batch_size"]) for n in names for d in found[n]}
    assert settings == {(0.001, 64), (0.003, 64)}
    sweep_id = names[0].split("-")[1]
    summary = (project.path / f"reports/sweeps/{sweep_id}.md").read_text()
    assert all(name in summary for name in names)
    assert (project.path / f"reports/sweeps/{sweep_id}.png").read_bytes()[:4] == b"\x89PNG"

    # The retried trial's figures are a clean local run's, and its model comes home.
    [data] = found[killed]
    qs = data["params"]["params.yaml"]["data"]["models"]["quickstart"]
    overrides = [f"{QS}.optimizer.Adam.learning_rate={qs['optimizer']['Adam']['learning_rate']}",
                 f"{QS}.batch_size={qs['batch_size']}"]
    project.dvc("exp", "run", "-n", "local-reference", *[a for o in overrides for a in ("-S", o)])
    reference = experiments(project)["local-reference"][0]
    metrics = "metrics/quickstart.json"
    assert without_timing({metrics: data["metrics"][metrics]["data"]}) == without_timing(
        {metrics: reference["metrics"][metrics]["data"]})
    project.dvc("exp", "apply", killed)
    project.dvc("pull")
    assert project.stale_stages() == set()


@pytest.mark.slow
def test_the_progress_board_outlives_every_worker_node(cluster):
    """The actor trials report their start to stays on the driver's node: losing the
    worker nodes (where Ray would put it if left alone) leaves the board answering."""
    import ray

    from stages.tools.sweeps import grid

    workers = list(cluster.worker_nodes)
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    try:
        boards = [grid.progress_actor(ray) for _ in range(3)]
        ray.get([board.started.remote("trial", "node") for board in boards])
        for node in workers:
            cluster.remove_node(node, allow_graceful=False)
        deadline = time.monotonic() + 60
        while sum(n["Alive"] for n in ray.nodes()) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)  # until Ray itself knows the workers are gone
        assert [ray.get(b.snapshot.remote(), timeout=30) for b in boards] == [{"trial": "node"}] * 3
    finally:
        ray.shutdown()
        for _ in workers:
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()


@pytest.mark.slow
def test_a_failed_trial_is_named_the_others_finish_and_nothing_of_it_is_pushed(team, tmp_path):
    """On a local Ray instance (no --address): the embedded default."""
    project = team["project"]
    result = sweep(project, tmp_path, "-S",
                   "models.cnn_sgd.optimizer.SGD.learning_rate=1.0e12,0.01")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = error_lines(result)
    [failed] = re.findall(r"(sweep-\w+-\d+): trial \1: error: model cnn_sgd diverged", line)
    names = [n for n in experiments(project) if n.startswith("sweep-")]
    assert len(names) == 1 and failed not in names
    refs = run(["git", "ls-remote", team["origin"], "refs/exps/*"], project.path).stdout
    assert failed not in refs and names[0] in refs


def test_an_unreachable_dvc_remote_names_the_node_and_the_remote(team, tmp_path):
    project = team["project"]
    down = f"webdav://127.0.0.1:{free_port()}/nowhere"
    project.dvc("remote", "modify", "storage", "url", down)
    project.commit("a DVC remote no node can reach")
    before = project.snapshot()
    result = sweep(project, tmp_path, "-S", f"{QS}.epochs=1,2")
    assert result.returncode == 1
    [line] = error_lines(result)
    assert re.search(rf"on node \S+/\w+: cannot reach the DVC remote: .*{re.escape(down)}.*"
                     "cannot connect", line), line
    assert "refs/exps" not in run(["git", "ls-remote", team["origin"]], project.path).stdout
    assert project.snapshot() == before


def test_ctrl_c_cancels_the_sweep_and_leaves_the_workspace_as_it_was(team, tmp_path):
    project = team["project"]
    before = project.snapshot()
    process = subprocess.Popen(
        [sys.executable, "-m", "stages.sweep", "-S", f"{QS}.epochs=1,2,3"], cwd=project.path,
        env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("sweep: started"):
            process.send_signal(signal.SIGINT)
            break
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted: cancelled" in stderr
    assert project.snapshot() == before
    time.sleep(2)
    trials = subprocess.run(["pgrep", "-f", "dvc exp run --pull"], capture_output=True,
                            text=True).stdout
    assert trials == "", "a cancelled trial is still training"
