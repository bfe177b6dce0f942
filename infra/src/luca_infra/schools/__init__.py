"""The tenant lifecycle: a school's creation, export and erasure, as the ``luca schools`` commands run
them against a deployed stage or the local platform (the same code on both, through ``cli.stage``).

One job per module: ``record`` (the school's own record in the table), ``school_table`` (the school's
items, read and deleted as the school through the tenant role), ``identities`` (its users in the pool),
``edge`` (its API key in its tier's usage plan), ``alarm`` (its p95 alarm), ``lake`` (its rows in the
lake), ``audit`` (the lifecycle's audit trail), ``onboarding``, ``export``, ``manifest`` and
``erasure`` (the use cases).
"""
