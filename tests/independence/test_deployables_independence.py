"""A change reaches exactly the deployables it should (docs/decisions/0007-independent-services.md).

Each case edits one file in a fresh copy of the repository's sources (never the working tree), then
fingerprints every deployable again from that copy: each Lambda zip as the bundler writes it (its
bytes), each image as the files of its allowlisted build context plus its service's lock. The cases
are a service's private code (it changes that service's deployables and nothing else), a library
or the generated contracts (they change exactly the deployables that use them), and a service's
lock. The expected sets are written out here, not derived from ``luca_infra.deployables``, whose
``changed_by`` must give the same answer without building anything.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from luca_infra.bundle import BUNDLES, build
from luca_infra.deployables import changed_by, copy_tree, deployables, fingerprint, fingerprints, inputs
from luca_infra.workspace import REPO_ROOT

INGEST, GOVSYNC, ANALYTICS = "ingest-lambda", "govsync-lambda", "analytics-lambda"
GRADING_IMAGE, GOVSYNC_API, ANALYTICS_API = "grading-image", "govsync-api-image", "analytics-api-image"
IMAGES = {GRADING_IMAGE, GOVSYNC_API, ANALYTICS_API}
# The edge's authorizer: an image too, but of the libraries only (no generated contracts).
EDGE_AUTHORIZER = "edge-authorizer-image"
SERVICES = ("grading", "ingest", "govsync", "analytics", "edge")


def append_comment(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


def append_newline(path: Path) -> None:
    path.write_text(path.read_text() + "\n")  # still the same JSON document


def bump_powertools(path: Path) -> None:
    # What `make lock` writes after a bump; every service lock pins powertools.
    text, count = re.subn(
        r"(?m)^aws-lambda-powertools==(\S+)", r"aws-lambda-powertools==\g<1>.post1", path.read_text()
    )
    assert count == 1
    path.write_text(text)


# (path edited, how, the deployables that must change)
CASES: list[tuple[str, Callable[[Path], None], set[str]]] = [
    # a service's private code
    ("services/grading/src/luca_grading/service_layer/services.py", append_comment, {GRADING_IMAGE}),
    ("services/ingest/src/luca_ingest/service_layer/processor.py", append_comment, {INGEST}),
    ("services/govsync/src/luca_govsync/service_layer/tasks.py", append_comment, {GOVSYNC, GOVSYNC_API}),
    # the query service's use cases are not in the enrichment function; its domain is in both
    ("services/analytics/src/luca_analytics/service_layer/reports.py", append_comment, {ANALYTICS_API}),
    ("services/analytics/src/luca_analytics/domain/lake.py", append_comment, {ANALYTICS, ANALYTICS_API}),
    # a service's code the Lambda leaves out (the ministry simulator)
    ("services/govsync/src/luca_govsync/simulator/app.py", append_comment, {GOVSYNC_API}),
    ("services/edge/src/luca_edge/service_layer/authorize.py", append_comment, {EDGE_AUTHORIZER}),
    # the libraries: everything that imports them (the enrichment function imports neither)
    ("libs/kernel/src/luca_kernel/ids.py", append_comment, {INGEST, GOVSYNC, *IMAGES, EDGE_AUTHORIZER}),
    (
        "libs/platform/src/luca_platform/table/keys.py",
        append_comment,
        {INGEST, GOVSYNC, *IMAGES, EDGE_AUTHORIZER},
    ),
    # the generated contracts: the ingest schema is data of the grade processor's, and every image installs them
    ("proto/python/src/luca/ingest/v1/schemas/StudentEvent.schema.json", append_newline, {INGEST, *IMAGES}),
    # a service's lock: its deployables only
    ("services/grading/requirements.lock", bump_powertools, {GRADING_IMAGE}),
    ("services/ingest/requirements.lock", bump_powertools, {INGEST}),
    ("services/govsync/requirements.lock", bump_powertools, {GOVSYNC, GOVSYNC_API}),
    ("services/analytics/requirements.lock", bump_powertools, {ANALYTICS, ANALYTICS_API}),
    ("services/edge/requirements.lock", bump_powertools, {EDGE_AUTHORIZER}),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """An untouched copy of the tree and every deployable's fingerprint from it."""
    tree = copy_tree(tmp_path_factory.mktemp("pristine") / "repo")
    return tree, fingerprints(tree)


def test_the_copy_fingerprints_as_the_working_tree_does(pristine: tuple[Path, dict[str, str]]) -> None:
    _, before = pristine

    assert before == fingerprints(REPO_ROOT)
    assert not [name for name, value in before.items() if value.startswith("refused")]


def test_a_lambdas_fingerprint_is_the_zip_the_bundler_builds(tmp_path: Path) -> None:
    built = build(BUNDLES["ingest"], tmp_path)  # with the import check

    assert fingerprint(deployables()[INGEST]) == hashlib.sha256(built.path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("path", "edit", "expected"), CASES, ids=[case[0] for case in CASES])
def test_a_change_reaches_exactly_the_deployables_that_use_it(
    pristine: tuple[Path, dict[str, str]],
    tmp_path: Path,
    path: str,
    edit: Callable[[Path], None],
    expected: set[str],
) -> None:
    # GIVEN a fresh copy of the tree with one file edited
    source, before = pristine
    tree = copy_tree(tmp_path / "repo", root=source)  # from the pristine copy: the working tree may move
    edit(tree / path)

    # WHEN every deployable is fingerprinted again from it
    after = fingerprints(tree)

    # THEN exactly the expected ones changed
    changed = {name for name in after if after[name] != before[name]}
    assert changed == expected
    # AND the inputs alone (no build) name the same ones
    assert set(changed_by([path], root=tree)) == expected


def test_no_deployable_is_fed_by_another_services_files() -> None:
    for deployable in deployables().values():
        others = [f"services/{s}/" for s in SERVICES if s != deployable.service]
        foreign = sorted(p for p in inputs(deployable) if p.startswith(tuple(others)))
        assert foreign == [], deployable.name
        assert f"services/{deployable.service}/requirements.lock" in inputs(deployable)
