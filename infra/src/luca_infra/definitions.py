"""The platform's resources, defined once.

The CDK app (``luca_infra.aws``) and the local platform (``luca_infra.local``) both build from these
values; services receive the resulting names through their settings (environment), never by
spelling them. Table keys and indexes come from the platform library (luca_platform.table.keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from luca_govsync.definition import RetryPolicy
from luca_platform.table import keys

PLATFORM = "luca"
# The VPC's AZs (``aws.network``): each Fargate service keeps at least one task in each (decision 0013).
AVAILABILITY_ZONES = 2


@dataclass(frozen=True, slots=True)
class TableDefinition:
    name: str = "luca-platform"
    partition_key: str = keys.TABLE_PARTITION_KEY
    sort_key: str = keys.TABLE_SORT_KEY
    indexes: tuple[keys.IndexDesign, ...] = keys.INDEXES
    ttl_attribute: str = keys.TTL_ATTRIBUTE
    stream_view: str = keys.STREAM_VIEW
    point_in_time_recovery: bool = True
    deletion_protection: bool = True


@dataclass(frozen=True, slots=True)
class UserPoolDefinition:
    name: str = "luca-users"
    client_name: str = "luca-teacher-app"
    # Custom attributes: immutable and never writable by app clients; set by admins only.
    school_attribute: str = "school_id"
    student_attribute: str = "student_id"
    groups: tuple[str, ...] = ("teachers", "students", "admins")
    # Auth flows the app client allows. ADMIN_USER_PASSWORD_AUTH is for server-side tools
    # (the local platform's token helper); SRP is what the apps use.
    auth_flows: tuple[str, ...] = (
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    )
    id_token_validity_minutes: int = 60

    @property
    def school_claim(self) -> str:
        return f"custom:{self.school_attribute}"

    @property
    def student_claim(self) -> str:
        return f"custom:{self.student_attribute}"


@dataclass(frozen=True, slots=True)
class TenantRoleDefinition:
    """The role the grading service assumes per school, tagged ``school_id``.

    Its policy allows table and index access only where every leading key matches
    ``SCHOOL#${aws:PrincipalTag/school_id}#*``.
    """

    name: str = "luca-tenant-data-access"
    session_tag: str = "school_id"
    session_duration_seconds: int = 3600
    # Refresh cached credentials this long before they expire.
    refresh_margin_seconds: int = 300
    leading_key_pattern: str = "SCHOOL#${aws:PrincipalTag/school_id}#*"
    actions: tuple[str, ...] = (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
    )


@dataclass(frozen=True, slots=True)
class BatchRoleDefinition:
    """The role the grade processor assumes once per batch of several schools' events.

    Its own policy allows the table only on school keys (``SCHOOL#*``); every session narrows that
    with an inline session policy naming exactly the batch's schools (``luca_platform.batch_access``),
    and IAM grants only the intersection (docs/decisions/0011-burst-write-path.md). Sessions last the
    minimum, 15 minutes: one is used for one batch, or the next batches of the same schools.
    """

    name: str = "luca-tenant-batch-access"
    session_duration_seconds: int = 900
    leading_key_pattern: str = "SCHOOL#*"
    # The processor's calls (``luca_ingest.adapters.dynamodb_store.BATCH_ACTIONS``, checked by a test):
    # TransactWriteItems is authorised per action, as PutItem.
    actions: tuple[str, ...] = (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
    )


@dataclass(frozen=True, slots=True)
class ServiceIdentityDefinition:
    """The KMS key that signs internal service-identity tokens (RS256, one school per token).

    Services that verify (the grading service) may only read its public key; internal callers that
    act for a school (later: the burst processor, the government sync) may sign with it. The private
    key never leaves KMS.
    """

    alias: str = "alias/luca-service-identity"
    key_spec: str = "RSA_2048"
    key_usage: str = "SIGN_VERIFY"
    signing_algorithm: str = "RSASSA_PKCS1_V1_5_SHA_256"
    description: str = "Signs Luca's internal service-identity tokens"
    verify_actions: tuple[str, ...] = ("kms:GetPublicKey", "kms:DescribeKey")
    sign_actions: tuple[str, ...] = ("kms:Sign", "kms:DescribeKey")


# What the government sync's schools list holds with no school in it (a StringList cannot be empty):
# no school id, so the scheduled starter skips it.
SCHOOLS_PLACEHOLDER = "#replace-with-the-school-ids#"


@dataclass(frozen=True, slots=True)
class AuthorizerDefinition:
    """The edge's REQUEST authorizer (services/edge): a container-image Lambda on every route."""

    function_name: str = "edge-authorizer"
    # RS256 verification is CPU-bound and Lambda's CPU grows with memory: 512 MB keeps a cache miss
    # (and a cold start) short without paying for memory the function never uses.
    memory_mib: int = 512
    timeout_seconds: int = 10
    # API Gateway caches each answer per token this long. It cannot follow each token's own expiry,
    # so this bounds how long an expired token, a deleted user or a deleted school keeps passing the
    # edge (the services still verify every request's token themselves).
    cache_seconds: int = 300

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


@dataclass(frozen=True, slots=True)
class TierDefinition:
    """A school's allowance at the edge, sized by its enrolment: each school of the tier gets its own
    bucket of this shape (in AWS a usage plan whose throttle applies per school's API key; locally
    the gateway's bucket for the school)."""

    name: str
    max_students: int | None  # enrolment up to this many students; None: no ceiling
    rate: float  # requests per second, steady
    burst: int  # requests at once, banked


@dataclass(frozen=True, slots=True)
class ThrottlingDefinition:
    """Edge throttling: the API stage's limits and each school's tier (docs/decisions/0006-per-school-throttling.md)."""

    stage_rate_limit: float = 5000.0
    stage_burst_limit: int = 5000
    # Smallest first. A recess is every student at once: the burst covers about a third of the
    # enrolment, the rate a class of them opening the app each second.
    tiers: tuple[TierDefinition, ...] = (
        TierDefinition("small", 300, rate=50.0, burst=100),
        TierDefinition("medium", 1000, rate=200.0, burst=400),
        TierDefinition("large", 3000, rate=500.0, burst=1000),
        TierDefinition("xlarge", None, rate=1000.0, burst=2000),
    )
    # A school whose tier is not recorded yet (onboarding records it).
    default_tier: str = "medium"

    def __post_init__(self) -> None:
        ceilings = [t.max_students for t in self.tiers]
        if not self.tiers or ceilings[-1] is not None or any(c is None for c in ceilings[:-1]):
            raise ValueError("tiers are ordered by enrolment ceiling, the last one without a ceiling")
        if ceilings[:-1] != sorted(c for c in ceilings[:-1] if c is not None):
            raise ValueError("tiers must be ordered by enrolment ceiling")
        self.tier(self.default_tier)

    def tier(self, name: str) -> TierDefinition:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise ValueError(f"no tier {name!r}; tiers: {[t.name for t in self.tiers]}")

    def tier_for_enrolment(self, students: int) -> TierDefinition:
        if students < 0:
            raise ValueError("an enrolment is a number of students, at least 0")
        return next(t for t in self.tiers if t.max_students is None or students <= t.max_students)

    @property
    def per_school_rate(self) -> float:
        return self.tier(self.default_tier).rate

    @property
    def per_school_burst(self) -> int:
        return self.tier(self.default_tier).burst

    @property
    def max_school_rate(self) -> float:
        """What the largest school may legitimately send: the floor of any per-source limit."""
        return max(t.rate for t in self.tiers)


@dataclass(frozen=True, slots=True)
class GradingServiceDefinition:
    """The grading service (``LucaGrading``): its rules on the shared ALB take every path no other service claims."""

    name: str = "grading"
    container: str = "grading"
    task_role_name: str = "luca-grading-task"
    rest_port: int = 8080
    grpc_port: int = 50051
    min_tasks: int = 2
    max_tasks: int = 10
    cpu: int = 512
    memory_mib: int = 1024
    target_cpu_percent: int = 60
    health_path: str = "/healthz"
    # Named so the runbooks, the stage's resources document and ``luca trace --stage`` can find it.
    log_group_name: str = "/ecs/luca-grading"


@dataclass(frozen=True, slots=True)
class GovSyncApiDefinition:
    """The government sync's gRPC API (``luca.govsync.v1``, ``LucaGovSyncApi``): its own Fargate service
    behind the shared ALB, whose gRPC listener routes ``grpc_path`` to it.
    """

    container: str = "govsync-api"
    task_role_name: str = "luca-govsync-api-task"
    grpc_port: int = 50052
    grpc_path: str = "/luca.govsync.v1.GovSyncService/*"
    # A few admins start and follow syncs; two tasks keep one per AZ.
    min_tasks: int = 2
    max_tasks: int = 4
    cpu: int = 256
    memory_mib: int = 512
    target_cpu_percent: int = 60
    log_group_name: str = "/ecs/luca-govsync-api"


@dataclass(frozen=True, slots=True)
class AnalyticsApiDefinition:
    """The analytics query API (``luca.analytics.v1`` over gRPC, ``GET /v1/analytics/{report}`` over
    REST, ``LucaAnalyticsApi``): its own Fargate service behind the shared ALB (its task role alone may
    query the lake; see ``luca_infra.aws.analytics_api``). The REST listener sends ``rest_path`` there,
    the gRPC listener ``grpc_path``.
    """

    container: str = "analytics-api"
    task_role_name: str = "luca-analytics-api-task"
    rest_port: int = 8082
    grpc_port: int = 50053
    rest_path: str = "/v1/analytics*"
    grpc_path: str = "/luca.analytics.v1.AnalyticsService/*"
    health_path: str = "/healthz"
    # Athena does the scanning; a task only waits on it and shapes a few hundred rows.
    min_tasks: int = 2
    max_tasks: int = 4
    cpu: int = 512
    memory_mib: int = 1024
    target_cpu_percent: int = 60
    log_group_name: str = "/ecs/luca-analytics-api"

    @property
    def rest_prefix(self) -> str:
        """``rest_path`` as a path prefix (the local gateway routes by prefix, the ALB by pattern)."""
        return self.rest_path.removesuffix("*")


# How both edges refuse a student's request naming another student (403), in the same words.
NOT_THE_SUBMITTER = "A student may submit only their own events, and this request names another student."


@dataclass(frozen=True, slots=True)
class IngestDefinition:
    """The burst path: the events queue, its DLQ and the grade processor's event-source mapping.

    Lambda's rule for SQS sources: the queue's visibility timeout is at least six times the
    function's timeout, so a message is not handed to a second invocation while the first may still
    be working on it (the mapping also retries throttled invocations inside that window).
    """

    queue_name: str = "luca-student-events"
    dlq_name: str = "luca-student-events-dlq"
    function_name: str = "luca-grade-processor"
    # The runbooks' name for the function's log group (not Lambda's default /aws/lambda/<function>).
    log_group_name: str = "/aws/lambda/grade-processor"
    role_name: str = "luca-grade-processor"
    handler: str = "luca_ingest.entrypoints.handler.handler"
    bundle: str = "dist/ingest-lambda.zip"
    runtime: str = "python3.11"
    # The bundle is pure Python (the bundle builder refuses native code), so it runs on either; Graviton
    # is the cheaper per GB-second.
    architecture: str = "arm64"
    function_timeout_seconds: int = 30
    memory_mib: int = 512
    batch_size: int = 50
    max_batching_window_seconds: int = 5
    # A poison message is tried this many times, then moved to the DLQ.
    max_receive_count: int = 5
    # At most this many concurrent invocations: about 2 x 50 events in flight per instance keeps the
    # table's write rate bounded however deep the queue gets (the mapping's ScalingConfig).
    max_concurrency: int = 10
    message_retention_days: int = 4
    dlq_retention_days: int = 14
    # Edge limits: the batch form carries at most one SQS SendMessageBatch (10 entries); a single
    # event's JSON body is at most this many bytes (far below SQS's 256 KiB).
    max_events_per_request: int = 10
    max_event_bytes: int = 16 * 1024
    school_attribute: str = "school_id"
    correlation_attribute: str = "correlation_id"
    # The token's custom:student_id when a student sent the event. The edge refuses a student's request
    # naming another student (403), and the processor refuses such an event again if one gets through.
    student_attribute: str = "submitted_by_student"
    # The edge's routes, under the API's version prefix (/v1): one event (body: StudentEvent), or up to
    # max_events_per_request of them (body: SubmitEventsRequest).
    event_route: str = "events"
    batch_route: str = "events/batch"

    @property
    def visibility_timeout_seconds(self) -> int:
        return 6 * self.function_timeout_seconds


@dataclass(frozen=True, slots=True)
class GovSyncDefinition:
    """The government path: the state machine, its task functions, manifests, DLQ, schedule and alarm.

    The state machine's states come from ``luca_govsync.definition``; this names what it runs on and
    holds the production retry policy (the local platform may shorten it through configuration).
    """

    state_machine_name: str = "luca-government-sync"
    # The four task functions' shared role, and the starter's: both read the table only as one school
    # through the tenant role, which admits them by these names.
    tasks_role_name: str = "luca-govsync-tasks"
    starter_role_name: str = "luca-govsync-starter"
    log_group_name: str = "/aws/stepfunctions/government-sync"
    # Task functions: name suffix -> handler (luca_govsync.entrypoints.handlers.<task>).
    function_prefix: str = "luca-govsync-"
    tasks: tuple[str, ...] = ("prepare", "submit", "record_failure", "report")
    handler_module: str = "luca_govsync.entrypoints.handlers"
    bundle: str = "dist/govsync-lambda.zip"
    runtime: str = "python3.11"
    architecture: str = "arm64"
    # Above the ministry client's timeout (20 s) with room for the manifest and the table.
    function_timeout_seconds: int = 60
    memory_mib: int = 512
    dlq_name: str = "luca-govsync-dlq"
    dlq_retention_days: int = 14
    manifest_bucket_prefix: str = "luca-govsync-manifests"
    batch_size: int = 100
    max_concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Consecutive outage-class failures of a school's batches that open the school's breaker (its
    # intervals and each batch's pause budget follow ``retry``); 0: no breaker, every batch alone.
    breaker_threshold: int = 3
    # Quarterly: 06:00 UTC on the first day after each term (Jan, Apr, Jul, Oct); the period synced
    # is the term that just ended.
    schedule_expression: str = "cron(0 6 1 1,4,7,10 ? *)"
    schedule_timezone: str = "America/Santiago"
    alarm_name: str = "Luca-StepFunction-Failure-Alert"
    alarm_consecutive_failures: int = 3
    # The function behind that alarm: on every finished execution it counts the trailing run of
    # failed executions (ListExecutions) and publishes it as ``failure_streak_metric``.
    failure_streak_function_name: str = "luca-govsync-failure-streak"
    failure_streak_handler: str = "luca_govsync.entrypoints.failure_streak.handler"
    failure_streak_metric: str = "GovSyncConsecutiveFailures"
    failure_streak_timeout_seconds: int = 60
    # The ministry API's client credentials live in this secret (client_id, client_secret).
    ministry_secret_name: str = "luca/govsync/ministry"  # noqa: S105 - the secret's name, not a secret
    # The schedule's target: a function that starts one execution per school listed in this SSM
    # StringList parameter (school onboarding appends to it) for the term that just ended.
    starter_task: str = "start_scheduled"
    schools_parameter: str = "/luca/govsync/schools"
    # How long the submit task waits for one ministry answer (LUCA_MINISTRY_TIMEOUT_SECONDS); below
    # function_timeout_seconds.
    ministry_timeout_seconds: int = 20
    # The starter makes one or two Step Functions calls per school; thousands of schools take minutes.
    starter_timeout_seconds: int = 900
    schedule_name: str = "luca-government-sync-quarterly"
    # Where a scheduled start that failed for good lands (the scheduler could not invoke the starter,
    # or the starter failed on every attempt). Not the batches' DLQ: that one holds batches only,
    # which is what `luca sync redrive` reads.
    schedule_dlq_name: str = "luca-govsync-schedule-dlq"

    def function_name(self, task: str) -> str:
        if task not in (*self.tasks, self.starter_task):
            raise ValueError(f"unknown task {task!r}")
        return f"{self.function_prefix}{task.replace('_', '-')}"

    def handler(self, task: str) -> str:
        return f"{self.handler_module}.{task}"


@dataclass(frozen=True, slots=True)
class AnalyticsAwsDefinition:
    """The AWS path of the lake (``LucaAnalytics``): stream → Pipes → Firehose → S3 → Glue/Athena.

    The lake's columns, partition keys and prefix are not here: they come from
    ``luca_analytics.adapters.lake_schema`` (the contract), which the stack reads.
    """

    pipe_name: str = "luca-lake-changes"
    pipe_batch_size: int = 100
    pipe_max_batching_window_seconds: int = 10
    # A batch whose enrichment keeps failing is retried this many times, then dead-lettered.
    pipe_max_retry_attempts: int = 10
    pipe_max_record_age_seconds: int = 86400
    pipe_dlq_name: str = "luca-lake-changes-dlq"
    pipe_dlq_retention_days: int = 14
    enrich_function_name: str = "luca-lake-enrichment"
    enrich_handler: str = "luca_analytics.entrypoints.enrich.handler"
    bundle: str = "dist/analytics-lambda.zip"
    runtime: str = "python3.11"
    architecture: str = "arm64"
    enrich_timeout_seconds: int = 60
    enrich_memory_mib: int = 512
    pseudonym_key_secret_name: str = "luca/analytics/pseudonym-key"  # noqa: S105 - a name, not a secret
    delivery_stream_name: str = "luca-lake-grades"
    # Dynamic partitioning needs a buffer of at least 64 MiB; 128 MiB / 900 s (both maxima) make the
    # fewest, largest files; freshness is bounded by the 900 s (see the stack's docstring).
    buffer_size_mib: int = 128
    buffer_interval_seconds: int = 900
    # The active-partition quota requested for the delivery stream (default 500, at most 5,000 per
    # stream); the stack alarms at 80 % of it. Keep it equal to what the account was granted.
    active_partitions_quota: int = 5000
    # Replaced lake objects (compaction swaps, accidental overwrites) are recoverable for this long.
    noncurrent_version_days: int = 90
    error_output_prefix: str = "lake-errors/"
    lake_bucket_prefix: str = "luca-lake"
    athena_results_bucket_prefix: str = "luca-athena-results"
    athena_results_expiry_days: int = 30
    glue_database: str = "luca_lake"
    glue_table: str = "grades"
    workgroup_name: str = "luca-analytics"
    # Per query: one school's whole history is a few hundred MiB of Parquet; 10 GiB stops a runaway.
    bytes_scanned_cutoff: int = 10 * 1024**3
    athena_engine_version: str = "Athena engine version 3"
    projection_year_range: tuple[int, int] = (2024, 2100)
    delivery_alarm_name: str = "Luca-Lake-Delivery-Alert"
    partition_alarm_name: str = "Luca-Lake-PartitionCount-Alert"
    pipe_dlq_alarm_name: str = "Luca-Lake-Pipe-DLQ-Alert"


@dataclass(frozen=True, slots=True)
class AnalyticsDefinition:
    """The lake's local stand-ins for Pipes + Firehose (``luca_infra.local.lake``) and the TTL reaper.

    The bucket's name follows the AWS stack's (``AnalyticsAwsDefinition.lake_bucket_prefix``), the
    prefix and columns come from ``luca_analytics.adapters.lake_schema``. Buffering is Firehose's rule
    (size or interval since the first buffered record) with local sizes, so a change is queryable in
    seconds. The pseudonymisation key is, in AWS, the secret ``pseudonym_key_secret_name``; locally it
    is a random key kept in the state directory (``pseudonym_key_file``), never a real school's key.
    """

    buffer_bytes: int = 1024 * 1024
    buffer_seconds: float = 5.0
    # How long the stream poller sleeps when a pass over the shards found nothing.
    poll_interval_seconds: float = 0.5
    # How often the reaper deletes items whose TTL passed (DynamoDB does it within days; moto never).
    reaper_interval_seconds: float = 30.0
    compression: str = "zstd"
    pseudonym_key_file: str = "lake-pseudonym.key"
    metrics_file: str = "lake-metrics.jsonl"


@dataclass(frozen=True, slots=True)
class PlatformDefinition:
    table: TableDefinition = field(default_factory=TableDefinition)
    user_pool: UserPoolDefinition = field(default_factory=UserPoolDefinition)
    tenant_role: TenantRoleDefinition = field(default_factory=TenantRoleDefinition)
    batch_role: BatchRoleDefinition = field(default_factory=BatchRoleDefinition)
    service_identity: ServiceIdentityDefinition = field(default_factory=ServiceIdentityDefinition)
    throttling: ThrottlingDefinition = field(default_factory=ThrottlingDefinition)
    authorizer: AuthorizerDefinition = field(default_factory=AuthorizerDefinition)
    grading: GradingServiceDefinition = field(default_factory=GradingServiceDefinition)
    govsync_api: GovSyncApiDefinition = field(default_factory=GovSyncApiDefinition)
    analytics_api: AnalyticsApiDefinition = field(default_factory=AnalyticsApiDefinition)
    ingest: IngestDefinition = field(default_factory=IngestDefinition)
    govsync: GovSyncDefinition = field(default_factory=GovSyncDefinition)
    analytics_aws: AnalyticsAwsDefinition = field(default_factory=AnalyticsAwsDefinition)
    analytics: AnalyticsDefinition = field(default_factory=AnalyticsDefinition)
    api_name: str = "luca-api"
    api_stage: str = "v1"
    metrics_namespace: str = "Luca/Platform"
    alerts_topic: str = "luca-ops-alerts"
    # Every public request's body, on every route: the WAF's size rule, the local gateway and the
    # services refuse more with 413. It is also what WAF inspects of a body behind API Gateway (16 KB).
    request_body_limit_bytes: int = 16 * 1024
    # WAF's log group: the name must start with aws-waf-logs-; the Authorization header is redacted.
    waf_log_group: str = "aws-waf-logs-luca-api"
    # The edge's access log group (one JSON line per request), named for the runbooks and luca trace.
    api_access_log_group: str = "/aws/apigateway/luca-api-access"
    dashboard_name: str = "Luca-Production-Overview"
    # The per-school interactive p95 alarm (``luca_infra.aws.school_alarm``): name prefix and objective.
    latency_alarm_prefix: str = "Luca-P95-Latency-Alert"
    latency_objective_ms: int = 120
    # CloudTrail: the trail and its bucket (``<prefix>-<account>-<region>``), and the trail's log group.
    trail_name: str = "luca-audit"
    trail_bucket_prefix: str = "luca-cloudtrail-logs"
    trail_log_group: str = "/aws/cloudtrail/luca-audit"
    # The role operators assume to run ``luca … --stage`` (``luca_infra.aws.operator_access``).
    operator_role_name: str = "luca-operator"
    # The tenant lifecycle's audit trail (``luca schools``): schools created, exported and erased.
    tenant_audit_log_group: str = "/luca/audit/tenant-lifecycle"

    @property
    def school_workload_roles(self) -> tuple[str, ...]:
        """The roles that act for one school at a time: the tenant role's trust admits exactly these, by name."""
        return (
            self.grading.task_role_name,
            self.govsync_api.task_role_name,
            self.analytics_api.task_role_name,
            self.govsync.tasks_role_name,
            self.govsync.starter_role_name,
            # Operators read a sync's progress and a student's events as that school, never the table.
            self.operator_role_name,
        )

    @property
    def batch_workload_roles(self) -> tuple[str, ...]:
        """The roles that act for a batch's schools at once: the batch role's trust admits exactly these."""
        # The operators' ``luca dlq list`` runs the processor's own read (a dry run) on a stage.
        return (self.ingest.role_name, self.operator_role_name)


PLATFORM_DEFINITION = PlatformDefinition()
