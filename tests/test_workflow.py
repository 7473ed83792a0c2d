"""The GitHub workflow users get when they fork, checked by real linters:
check-jsonschema (GitHub's workflow schema) and zizmor (Actions security audit)."""

from __future__ import annotations

import yaml

from harness import BIN, ROOT, run

WORKFLOW = ROOT / ".github/workflows/ci.yml"


def test_workflow_matches_githubs_schema():
    result = run([BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows",
                  WORKFLOW], ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_passes_the_zizmor_security_audit():
    result = run([BIN / "zizmor", "--offline", "--no-progress", WORKFLOW], ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_tests_runs_the_pipeline_and_reports_on_pull_requests():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"push", "pull_request"}
    steps = {job: "\n".join(str(step.get("run", "")) + str(step.get("uses", ""))
                            for step in body["steps"]) for job, body in workflow["jobs"].items()}
    assert "make test" in steps["test"]
    pipeline = steps["pipeline"]
    for needed in ("make pipeline", "dvc metrics diff", "dvc params diff",
                   "reports/leaderboard.md", "gh pr comment", "upload-artifact", "actions/cache",
                   "dvc pull", "dvc push"):
        assert needed in pipeline, needed
