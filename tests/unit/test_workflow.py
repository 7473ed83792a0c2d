"""The GitHub workflow users get when they fork, checked by real linters: actionlint
(expressions, contexts, the shell of each step through ShellCheck), check-jsonschema
(GitHub's workflow schema) and zizmor (Actions security audit)."""

from __future__ import annotations

import yaml

from harness import BIN, ROOT, run

WORKFLOW = ROOT / ".github/workflows/ci.yml"


def test_workflow_matches_githubs_schema():
    result = run([BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows",
                  WORKFLOW], ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_passes_actionlint_and_shellcheck():
    result = run([BIN / "actionlint", "-shellcheck", BIN / "shellcheck", WORKFLOW], ROOT,
                 check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_passes_the_zizmor_security_audit():
    result = run([BIN / "zizmor", "--offline", "--no-progress", WORKFLOW], ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_tests_runs_the_pipeline_and_reports_on_pull_requests():
    """Tests, then the pipeline; a pull request is merged with its base using the merge
    drivers `make install` sets up, compared with it into the job summary, and one
    comment is kept up to date (edited, found by its marker), never on forks."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"push", "pull_request"}
    steps = {job: "\n".join(str(step.get("run", "")) + str(step.get("uses", ""))
                            for step in body["steps"]) for job, body in workflow["jobs"].items()}
    assert "make test\n" in steps["test"] and "make test-slow" in steps["test"]
    assert "openssh-server" in steps["test"]
    assert "test-artifacts/" in WORKFLOW.read_text()  # the browser screenshots
    pipeline = steps["pipeline"]
    for needed in ("make install", 'git merge --no-edit "origin/$BASE"', "make pipeline",
                   "make pull-changed", "make push", "stages.remote check",
                   'stages.compare "origin/$BASE"', '>> "$GITHUB_STEP_SUMMARY"',
                   "stages.charts --rev", "dvc plots diff", "--method PATCH", "gh pr comment",
                   "upload-artifact", "actions/cache"):
        assert needed in pipeline, needed
    [comment] = [step for step in workflow["jobs"]["pipeline"]["steps"]
                 if "--method PATCH" in step.get("run", "")]
    assert "head.repo.full_name == github.repository" in comment["if"]  # not from forks
    assert comment["continue-on-error"] is True
    assert pipeline.index("make install") < pipeline.index("git merge")


def test_remote_credentials_come_from_secrets_and_stay_local():
    text = WORKFLOW.read_text()
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DVC_SSH_KEY",
                   "DVC_REMOTE_USER", "DVC_REMOTE_PASSWORD"):
        assert f"${{{{ secrets.{secret} }}}}" in text, secret
    assert "remote modify --local" in text and "remote modify \"" not in text
