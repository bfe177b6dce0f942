"""The school's grading rules, read through the grading service's repository and rule cache."""

from __future__ import annotations

from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.domain.model import GradingRule, SchoolId, SubjectId
from luca_grading.service_layer.rule_cache import RuleCache


class CachedRules:
    """Rules stay warm across invocations of a Lambda instance, for at most the cache's TTL."""

    def __init__(self, repositories: DynamoRepositoryFactory, cache: RuleCache) -> None:
        self._repositories = repositories
        self._cache = cache

    def rule_for(self, school_id: SchoolId, subject_id: SubjectId) -> GradingRule:
        repository = self._repositories.for_school(school_id)
        return self._cache.rule_for(school_id, subject_id, repository.get_rule)
