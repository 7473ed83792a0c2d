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
    assert "make test\n" in steps["test"] and "make test-slow" in steps["test"]
    assert "openssh-server" in steps["test"]
    assert "test-artifacts/" in WORKFLOW.read_text()  # the browser screenshots
    pipeline = steps["pipeline"]
    for needed in ("make pipeline", "make pull", "make push", "stages.remote check",
                   "dvc metrics diff", "dvc params diff", "reports/leaderboard.md",
                   "stages.charts --rev", "dvc plots diff", "gh pr comment", "upload-artifact",
                   "actions/cache"):
        assert needed in pipeline, needed


def test_remote_credentials_come_from_secrets_and_stay_local():
    text = WORKFLOW.read_text()
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DVC_SSH_KEY",
                   "DVC_REMOTE_USER", "DVC_REMOTE_PASSWORD"):
        assert f"${{{{ secrets.{secret} }}}}" in text, secret
    assert "remote modify --local" in text and "remote modify \"" not in text
