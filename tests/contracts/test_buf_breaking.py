"""`make buf`'s breaking check bites: scripts/buf_breaking.sh on a scratch copy of the proto module.

Each test copies ``proto/`` into a fresh git repository, commits, changes the contract, commits again
and runs the script there. It compares against the newest ``contracts-v*`` tag, else ``HEAD~1``;
with nothing to compare against it passes and says so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "buf_breaking.sh"
BUF = REPO_ROOT / "node_modules" / ".bin" / "buf"
GRADING = Path("proto/luca/grading/v1/grading.proto")
# The scratch repositories ignore the machine's git configuration (signing, hooks, default branch).
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Contract Test",
    "GIT_AUTHOR_EMAIL": "contracts@example.invalid",
    "GIT_COMMITTER_NAME": "Contract Test",
    "GIT_COMMITTER_EMAIL": "contracts@example.invalid",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if not BUF.exists():
        pytest.fail(f"{BUF} is missing: run `make setup` (npm ci) to install buf.")
    root = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "proto", root / "proto", ignore=shutil.ignore_patterns("python", "__pycache__")
    )
    _git(root, "init", "--quiet")
    _commit(root, "contracts")
    return root


def _git(repo: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--no-verify", "-m", message)


def _edit(repo: Path, old: str, new: str) -> None:
    path = repo / GRADING
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} should occur once in {GRADING}"
    path.write_text(text.replace(old, new))


def _delete_a_field(repo: Path) -> None:
    _edit(repo, "  string description = 10;\n", "  reserved 10;\n")


def _add_a_field(repo: Path, name: str, number: int) -> None:
    _edit(repo, "message Evaluation {\n", f"message Evaluation {{\n  string {name} = {number};\n")


def _run(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), str(repo)],
        cwd=repo,
        env={**os.environ, **GIT_ENV, "BUF": str(BUF)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_single_commit_has_nothing_to_compare(repo: Path) -> None:
    result = _run(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to compare" in result.stdout


def test_deleting_a_field_fails_against_the_previous_commit(repo: Path) -> None:
    _delete_a_field(repo)
    _commit(repo, "drop Evaluation.description")
    result = _run(repo)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "HEAD~1" in result.stdout
    assert re.search(r'field "10" with name "description" on message "Evaluation" was deleted', result.stdout)


def test_renaming_a_message_fails(repo: Path) -> None:
    path = repo / GRADING
    path.write_text(re.sub(r"\bSubjectAverage\b", "SubjectMean", path.read_text()))
    _commit(repo, "rename SubjectAverage")
    result = _run(repo)
    assert result.returncode != 0, result.stdout + result.stderr
    assert '"SubjectAverage" was deleted' in result.stdout


def test_adding_a_field_passes(repo: Path) -> None:
    _add_a_field(repo, "comment", 101)
    _commit(repo, "Evaluation.comment")
    result = _run(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking change against the previous commit (HEAD~1)" in result.stdout


def test_the_newest_contract_release_tag_wins_over_the_previous_commit(repo: Path) -> None:
    _git(repo, "tag", "contracts-v1.9.0")
    _add_a_field(repo, "comment", 101)
    _commit(repo, "Evaluation.comment")
    _git(repo, "tag", "contracts-v1.10.0")  # newer by version, though older by name order
    _delete_a_field(repo)
    _commit(repo, "drop Evaluation.description")
    _add_a_field(repo, "reviewer_id", 102)
    _commit(repo, "Evaluation.reviewer_id")
    # Against HEAD~1 the last commit only adds a field; against the release it deletes one.
    result = _run(repo)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "contracts-v1.10.0" in result.stdout
    assert '"description" on message "Evaluation" was deleted' in result.stdout


def test_a_shallow_clone_has_nothing_to_compare(repo: Path, tmp_path: Path) -> None:
    _add_a_field(repo, "comment", 101)
    _commit(repo, "Evaluation.comment")
    shallow = tmp_path / "shallow"
    _git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{repo}", str(shallow))
    result = _run(shallow)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HEAD~1) is not in this clone, nothing to compare" in result.stdout
