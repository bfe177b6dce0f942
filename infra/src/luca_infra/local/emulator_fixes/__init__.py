"""Local-only fixes to moto, the embedded emulator, for its hot paths. Never part of anything deployed.

moto is a test double, written for correctness rather than speed. Seven of its hot paths make the
local platform far slower than the service it stands in for, and the slowness grows with the data.
Each fix removes one of them; each module holds one service's fixes and says why each exists and
what it measured:

- ``dispatch``: ``cached-backend-lookup`` (moto's request dispatch, shared by every service);
- ``dynamodb``: ``item-level-transactions``, ``partition-scoped-queries``, ``direct-json-results``;
- ``sqs``: ``fast-sqs-clock``, ``direct-sqs-retention-check``, ``batch-system-attributes`` (a
  correctness fix: moto drops what AWS keeps);
- ``streams``: ``direct-stream-records`` (DynamoDB Streams).

``apply()`` is idempotent and is called by the embedded emulator only; when moto's internals no
longer look as expected a fix is skipped with a warning, never half-applied.

Each fix is checked against moto's own behaviour in ``infra/tests/local/test_emulator_fixes.py``
(run with the pinned moto): one scenario (``emulator_scenario.py``), run with and without the
fixes, must give the same responses.

The rule for adding a fix:

- it is narrow and changes nothing a client can see: the same responses, status codes and content
  types as moto gives, except where moto itself differs from AWS (its module then says where, and
  the test pins it);
- it goes in its service's module, as a function that checks moto's internals look as it expects
  and raises ``ImportError`` or ``AttributeError`` before it patches anything when they do not,
  and that marks what it installs with ``__luca_fix__`` so that it never patches twice;
- it is named in ``_FIXES`` below and exercised by the scenario, which lists the fixes in force;
- its module's docstring says what moto does, why that is slow, what the fix does instead, and
  what it measured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from luca_infra.local.emulator_fixes import dispatch, dynamodb, sqs, streams

log = logging.getLogger("luca.local.emulator")

_applied: set[str] = set()


def apply() -> tuple[str, ...]:
    """Apply every fix that matches the installed moto; returns the names of the fixes in force."""
    for name, fix in _FIXES.items():
        if name in _applied:
            continue
        try:
            fix()
        except (ImportError, AttributeError) as error:  # moto moved on: run unpatched, say so
            log.warning("emulator fix skipped", extra={"fix": name, "reason": repr(error)})
            continue
        _applied.add(name)
    return tuple(sorted(_applied))


# In the order they are applied.
_FIXES: dict[str, Callable[[], None]] = {
    "cached-backend-lookup": dispatch.cache_module_listing,
    "item-level-transactions": dynamodb.item_level_transactions,
    "partition-scoped-queries": dynamodb.partition_scoped_queries,
    "direct-json-results": dynamodb.direct_json_results,
    "fast-sqs-clock": sqs.fast_sqs_clock,
    "direct-sqs-retention-check": sqs.direct_sqs_retention_check,
    "batch-system-attributes": sqs.batch_system_attributes,
    "direct-stream-records": streams.direct_stream_records,
}
