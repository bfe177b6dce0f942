"""The grading rule in force for each event of a batch: warm in the cache, else read with the batch.

The rules are the published rules contract's items (``luca_platform.contracts.rules``). Rather than
one GetItem per cold (school, subject) on the school's own session, the batch's one read fetches
the cold rules' items beside the roster items (``DynamoEventStore.snapshot``), and the cache resolves
the rule in force from them: the subject's own, else the school default, else the platform's.
"""

from __future__ import annotations

from collections.abc import Callable

from luca_ingest.service_layer.ports import StoredRules
from luca_kernel.grading import GradingRule
from luca_kernel.ids import SchoolId, SubjectId
from luca_kernel.rule_cache import RuleCache

ReadOne = Callable[[SchoolId, SubjectId], GradingRule | None]


class BatchRules:
    def __init__(self, cache: RuleCache, read_one: ReadOne) -> None:
        self._cache = cache
        # For a rule that went cold between the batch's read and its grading (the TTL passed).
        self._read_one = read_one

    def cold(self, school_id: SchoolId, subject_ids: frozenset[SubjectId]) -> frozenset[SubjectId]:
        return frozenset(s for s in subject_ids if self._cache.cached(school_id, s) is None)

    def rule_for(self, school_id: SchoolId, subject_id: SubjectId, stored: StoredRules) -> GradingRule:
        def load(subject: SubjectId) -> GradingRule | None:
            return stored[subject] if subject in stored else self._read_one(school_id, subject)

        return self._cache.rule_for(school_id, subject_id, load)
