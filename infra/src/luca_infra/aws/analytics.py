"""The analytics path: the table's changes become a partitioned Parquet lake that Athena queries per school.

    table stream ─► EventBridge Pipe (INSERT/MODIFY only) ─► enrichment Lambda (flatten, pseudonymise)
        ─► Firehose (JSON → Parquet against the Glue table, dynamic partitioning) ─► S3 lake
        ─► Athena workgroup (partition projection; every query names its school)

- The pipe reads the stream from LATEST in batches (``AnalyticsAwsDefinition``), and its filter lets
  only INSERT and MODIFY through: REMOVE records (TTL expiries of re-derivable items, deletions)
  never reach the lake, which keeps everything. A batch whose enrichment keeps failing is bisected
  to find the bad record, retried, and in the end its records' stream coordinates go to the pipe's
  DLQ (alarmed); records that are merely not lake facts are skipped by the function, never failed.
- The enrichment function is ``luca_analytics.entrypoints.enrich`` from the ``analytics`` bundle
  (``make bundle``): typed DynamoDB JSON decoded, ``domain.lake.flatten`` (the local poller's
  transform), students pseudonymised with the key in a Secrets Manager secret the stack generates.
- Firehose converts each row to Parquet against the Glue table (whose columns are the contract's,
  ``glue_data_columns()``) and routes it to ``lake/grades/school_id=…/year=…/month=…/``
  (``partition_path``) by JQ over the row's partition keys. Conversion or partitioning failures land
  under the error prefix, and are logged.
- What this stack knows of the service (the lake's prefix, partition keys and columns, which changes
  become rows, the handler's environment) it reads from ``luca_analytics.definition`` only.
- The Glue table uses partition projection: no crawler, no partition registration; ``school_id`` is
  *injected*, so Athena refuses a query that does not name its school(s) with equality, which is the
  lake's isolation property on the query side (the query service forces the school from the token).

Partitions, buffering and small files (docs/decisions/0005-firehose-partitions.md)
---------------------------------------------------------
*Active partitions.* A partition is active while Firehose buffers records for it: one per school and
month that received a change within the buffer interval (Firehose's multi-stage buffering holds it
up to ~1.5 x the interval). The default quota is 500 per stream; records beyond it go to the error
prefix (``activePartitionExceeded``), are not converted into the lake, and must be replayed. With
thousands of schools writing during school hours, schools x 1 month (2 in the days after a month
ends, when late grades for last month arrive) exceeds 500 within minutes. So:

1. Before go-live, request the per-stream quota raise to ``active_partitions_quota`` (5,000, the
   per-stream maximum), sized as ``active schools x 2 months``: 5,000 covers 2,500 schools in the
   worst hour of a month boundary and ~5,000 on ordinary days.
2. ``PartitionCount`` alarms at 80 % of that quota (``Luca-Lake-PartitionCount-Alert``), ahead of
   the limit; ``PartitionCountExceeded`` alarms on the first occurrence (same alarm topic).
3. Past that size, shard: N pipes, each filtering on a prefix of ``NewImage.school_id`` (Pipes filters
   support prefix matching), each with its own delivery stream and quota, all writing the same
   prefix and table. A shorter buffer interval also lowers the count (partitions close sooner), at
   the cost of smaller files; that is the first lever, sharding the second.

Why not fewer partition keys: the school is what drives the count, and it is also the isolation and
pruning key (injected projection; a one-school query reads only that school's objects), so it stays.
Dropping the month would make the count schools x 1 instead of x <= 2, but then every query of a term
reads a school's whole history and a school's prefix grows without bound. A coarser key such as
school x year saves nothing at month boundaries that matters and loses monthly pruning. Hashing
schools into buckets would cut the count but break per-school pruning and the injected projection.

*Buffering.* 128 MiB / 900 s, the maxima (dynamic partitioning needs >= 64 MiB). One school's month is
far below 128 MiB, so in practice the interval flushes: a change is queryable after <= ~15-23 minutes
(900 s x 1.5 plus the pipe's seconds). Reports are about terms and months, so that freshness is
enough, and the longest interval makes the fewest, largest files. The local platform mirrors the
same size/time rule.

*Small files.* Even so, each active school writes one object per interval: 32 per school day, 640 a
month of about 10 KB, of which 6 KB is the file's own (``make capacity``). Every file costs a report
a GET and Athena per-file work, so the files are compacted nightly (decision
docs/decisions/0014-lake-compaction.md): operations work, not this stack. Each night, per partition
written that day, a scheduled job (a Step Functions workflow with Athena's ``StartQueryExecution``)
lists the partition's objects, rewrites exactly those into one, and swaps:

    CREATE TABLE luca_lake.compact_tmp WITH (format='PARQUET', write_compression='SNAPPY',
        external_location='s3://<lake>/lake/compacting/school_id=S/year=Y/month=M/<run>/')
    AS SELECT * FROM luca_lake.grades WHERE school_id='S' AND year=Y AND month=M
        AND "$path" IN (<the listed objects>);
    -- then swap: copy the compacted object into the partition's prefix, delete the listed ones
    -- (versioning keeps them ``noncurrent_version_days`` days), DROP TABLE compact_tmp.

Objects Firehose writes meanwhile are not listed, so they stay for the next night. A report that
runs between the copy and the deletes reads some rows twice; every report keeps each record's
latest version only, so its answer is the same. The lake bucket's lifecycle moves objects to
Intelligent-Tiering; nothing ever expires (current versions).

Identities, least privilege:
- The pipe's role: read this table's stream, invoke the enrichment function, put records to this
  delivery stream, send to the pipe's DLQ.
- The enrichment function's role: read its one secret; logs and traces.
- Firehose's role: write under the lake prefix and the error prefix of the lake bucket (and use the
  lake's key for that, through S3 only), read the Glue table's schema, write its error log stream.
- The query service that reads the lake through Athena is not in this stack: it is a stack of its
  own behind the shared ALB (``LucaAnalyticsApi``, ``analytics_api``), and takes from here only the
  lake's key and the pseudonymisation secret (``query_access``); the bucket names it builds with the
  same functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from luca_analytics import definition as lake_definition
from luca_infra.aws import constructs as luca_constructs
from luca_infra.aws.access_logs import access_log_bucket
from luca_infra.aws.nag import acknowledge
from luca_infra.definitions import AnalyticsAwsDefinition, PlatformDefinition

LOG_LEVEL = "INFO"
DELIVERY_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
DELIVERY_LOG_STREAM = "DestinationDelivery"
ACCESS_LOG_DAYS = 400
LAKE_ACCESS_LOG_PREFIX = "lake/"
RESULTS_ACCESS_LOG_PREFIX = "athena-results/"
# Objects move to Intelligent-Tiering once their month has usually closed; smaller objects
# (< 128 KiB) are never tiered by S3 and cost nothing extra.
INTELLIGENT_TIERING_AFTER_DAYS = 30
ALARM_PERIOD = cdk.Duration.minutes(5)
PARTITION_ALARM_FRACTION = 0.8
# Parquet compresses its pages itself; Firehose's own compression must be off when converting.
PARQUET_COMPRESSION = "SNAPPY"
FIREHOSE_RETRY_SECONDS = 300
ENRICH_KEY_LENGTH = 64
PARTITION_QUERY = "{" + ", ".join(f"{key}:.{key}" for key in lake_definition.PARTITION_KEYS) + "}"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def firehose_prefix() -> str:
    """The S3 prefix Firehose writes: ``partition_path``'s layout under ``LAKE_PREFIX``."""
    keys = "/".join(f"{key}=!{{partitionKeyFromQuery:{key}}}" for key in lake_definition.PARTITION_KEYS)
    return f"{lake_definition.LAKE_PREFIX}/{keys}/"


def location_template(bucket_name: str) -> str:
    """Partition projection's ``storage.location.template`` (Athena substitutes ``${key}``)."""
    keys = "/".join(f"{key}=${{{key}}}" for key in lake_definition.PARTITION_KEYS)
    return f"s3://{bucket_name}/{lake_definition.LAKE_PREFIX}/{keys}/"


def projection_parameters(analytics: AnalyticsAwsDefinition, bucket_name: str) -> dict[str, str]:
    first_year, last_year = analytics.projection_year_range
    return {
        "classification": "parquet",
        "projection.enabled": "true",
        # Injected: no list of schools to keep in sync, and a query must name its school.
        "projection.school_id.type": "injected",
        "projection.year.type": "integer",
        "projection.year.range": f"{first_year},{last_year}",
        "projection.year.digits": "4",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "storage.location.template": location_template(bucket_name),
    }


def lake_bucket_name(analytics: AnalyticsAwsDefinition) -> str:
    """The lake bucket's name (account and region as deploy-time tokens): this stack names the bucket
    with it and the query service's policy names it with it, so neither reads the other."""
    return f"{analytics.lake_bucket_prefix}-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}"


def athena_results_bucket_name(analytics: AnalyticsAwsDefinition) -> str:
    return f"{analytics.athena_results_bucket_prefix}-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}"


@dataclass(frozen=True)
class LakeQueryAccess:
    """What the query service (``analytics_api``) takes from this stack by reference, because neither
    has a name of its own to build: the lake's KMS key (a random key id) and the pseudonymisation
    key's secret (ECS needs its full ARN, which ends in a random suffix). Buckets, the Glue names and
    the workgroup it names from the definition."""

    lake_key: kms.IKey
    pseudonym_key: secretsmanager.ISecret


def require_analytics_bundle(path: Path) -> Path:
    """The enrichment function's deployment package, checked before any stack is built."""
    return luca_constructs.require_bundle(path, what="the lake enrichment", service="analytics")


class AnalyticsStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        table: dynamodb.ITable,
        alerts: sns.ITopic,
        bundle: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        analytics = definition.analytics_aws
        if analytics.buffer_size_mib < 64:
            raise ValueError("dynamic partitioning needs a Firehose buffer of at least 64 MiB")
        if table.table_stream_arn is None:
            raise ValueError("the table has no stream to feed the lake")
        self._analytics = analytics

        # -- storage: the lake, Athena's results, their access logs --------------------------------
        # Minors' (pseudonymised) grades: a key of our own, so reading the lake takes kms:Decrypt on
        # it as well as s3:GetObject, and every use is in CloudTrail.
        self.lake_key = kms.Key(
            self,
            "LakeKey",
            enable_key_rotation=True,
            description="Encrypts the analytics lake and Athena results",
        )
        access_logs = access_log_bucket(
            self,
            "LakeAccessLogs",
            receives="the lake's and the Athena results' server access logs",
            expiry_days=ACCESS_LOG_DAYS,
        )
        self.lake = s3.Bucket(
            self,
            "Lake",
            bucket_name=lake_bucket_name(analytics),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.lake_key,
            bucket_key_enabled=True,  # one data key per bucket and period, not a KMS call per object
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=LAKE_ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="TierTheLake",  # the lake keeps everything: no expiration of current objects
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                            transition_after=cdk.Duration.days(INTELLIGENT_TIERING_AFTER_DAYS),
                        )
                    ],
                    noncurrent_version_expiration=cdk.Duration.days(analytics.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
        )
        self.athena_results = s3.Bucket(
            self,
            "AthenaResults",
            bucket_name=athena_results_bucket_name(analytics),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.lake_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=RESULTS_ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireResults",  # re-runnable query output, not a record
                    expiration=cdk.Duration.days(analytics.athena_results_expiry_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
        )

        # -- the catalog: Glue database and table (projection), Athena workgroup --------------------
        self.database = glue.CfnDatabase(
            self,
            "LakeDatabase",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=analytics.glue_database, description="Luca's analytics lake"
            ),
        )
        self.table = glue.CfnTable(
            self,
            "GradesTable",
            catalog_id=self.account,
            database_name=analytics.glue_database,
            table_input=glue.CfnTable.TableInputProperty(
                name=analytics.glue_table,
                description="Grades, behavior notes and exercise results (luca.analytics.v1.LakeRecord)",
                table_type="EXTERNAL_TABLE",
                parameters=projection_parameters(analytics, self.lake.bucket_name),
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=c.name, type=c.type)
                    for c in lake_definition.glue_partition_columns()
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(name=c.name, type=c.type)
                        for c in lake_definition.glue_data_columns()
                    ],
                    location=f"s3://{self.lake.bucket_name}/{lake_definition.LAKE_PREFIX}/",
                    input_format=PARQUET_INPUT,
                    output_format=PARQUET_OUTPUT,
                    compressed=False,
                    stored_as_sub_directories=False,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=PARQUET_SERDE, parameters={"serialization.format": "1"}
                    ),
                ),
            ),
        )
        self.table.add_dependency(self.database)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=analytics.workgroup_name,
            description="Per-school reports over the lake; settings enforced on every query",
            state="ENABLED",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=analytics.bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=analytics.athena_engine_version
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.athena_results.bucket_name}/",
                    expected_bucket_owner=self.account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.lake_key.key_arn
                    ),
                ),
            ),
        )

        # -- Firehose: JSON rows → Parquet, partitioned ---------------------------------------------
        self.delivery_stream = self._delivery_stream(analytics)

        # -- the pseudonymisation key and the enrichment function ----------------------------------
        self.pseudonym_key = secretsmanager.Secret(
            self,
            "PseudonymKey",
            secret_name=analytics.pseudonym_key_secret_name,
            description="HMAC key of the lake's student pseudonyms (student_key); shared with the query service",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=ENRICH_KEY_LENGTH, exclude_punctuation=True
            ),
        )
        acknowledge(
            self.pseudonym_key,
            "SMG4",
            "Rotating the pseudonymisation key changes every student's student_key from then on, which "
            "splits each student's history in the lake in two; it is rotated deliberately, with a "
            "re-keying of the lake, never on a timer.",
        )
        if analytics.enrich_handler != lake_definition.ENRICH_HANDLER:
            raise ValueError(
                f"the definitions name {analytics.enrich_handler} as the enrichment handler; "
                f"the analytics service's is {lake_definition.ENRICH_HANDLER}"
            )
        enrich = luca_constructs.BundledPythonFunction(
            self,
            "Enrich",
            code=lambda_.Code.from_asset(str(bundle)),
            function_name=analytics.enrich_function_name,
            description="Pipes enrichment: stream records to the lake's rows (flattened, pseudonymised)",
            handler=analytics.enrich_handler,
            runtime=analytics.runtime,
            architecture=analytics.architecture,
            timeout=cdk.Duration.seconds(analytics.enrich_timeout_seconds),
            memory_mib=analytics.enrich_memory_mib,
            environment={
                lake_definition.ENRICH_KEY_SECRET_ENV: self.pseudonym_key.secret_arn,
                lake_definition.ENRICH_NAMESPACE_ENV: definition.metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": lake_definition.ENRICH_SERVICE,
                "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
            },
            role_description="Lake enrichment function: reads the pseudonymisation key; nothing else",
        )
        self.enrich_function = enrich.function
        self.enrich_role = enrich.role
        self.enrich_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PseudonymKey",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.pseudonym_key.secret_arn],
            )
        )

        # -- the pipe ------------------------------------------------------------------------------
        self.pipe_dead_letters = sqs.Queue(
            self,
            "PipeDeadLetters",
            queue_name=analytics.pipe_dlq_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(analytics.pipe_dlq_retention_days),
        )
        acknowledge(
            self.pipe_dead_letters,
            "SQS3",
            "This queue is itself the pipe's dead-letter queue: it receives the stream coordinates of "
            "batches the pipe gave up on. Nothing consumes it automatically, so it needs no DLQ of its own.",
        )
        self.pipe = self._pipe(analytics, table.table_stream_arn)
        self.query_access = LakeQueryAccess(lake_key=self.lake_key, pseudonym_key=self.pseudonym_key)

        # -- alarms --------------------------------------------------------------------------------
        self._alarms(analytics, alerts)

    # -- pieces ------------------------------------------------------------------------------------
    @staticmethod
    def _cfn(construct: Construct) -> cdk.CfnResource:
        child = construct.node.default_child
        assert isinstance(child, cdk.CfnResource)
        return child

    def _delivery_stream(self, analytics: AnalyticsAwsDefinition) -> firehose.CfnDeliveryStream:
        log_group = logs.LogGroup(
            self,
            "DeliveryLogs",
            log_group_name=f"/aws/kinesisfirehose/{analytics.delivery_stream_name}",
            retention=DELIVERY_LOG_RETENTION,
        )
        log_stream = logs.LogStream(
            self, "DeliveryLogStream", log_group=log_group, log_stream_name=DELIVERY_LOG_STREAM
        )
        # Only Firehose of this account may wear the role (confused-deputy guard).
        self.firehose_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="Lake delivery stream: writes the lake prefix, reads the Glue table's schema",
        )
        written = [
            self.lake.arn_for_objects(f"{lake_definition.LAKE_PREFIX}/*"),
            self.lake.arn_for_objects(f"{analytics.error_output_prefix}*"),
        ]
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[self.lake.bucket_arn],
            )
        )
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeObjects",
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=written,
            )
        )
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.lake_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{self.region}.{self.url_suffix}"},
                    # With bucket keys the encryption context is the bucket's ARN.
                    "ArnLike": {"kms:EncryptionContext:aws:s3:arn": [self.lake.bucket_arn, *written]},
                },
            )
        )
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeSchema",
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=[
                    self.format_arn(service="glue", resource="catalog"),
                    self.format_arn(
                        service="glue", resource="database", resource_name=analytics.glue_database
                    ),
                    self.format_arn(
                        service="glue",
                        resource="table",
                        resource_name=f"{analytics.glue_database}/{analytics.glue_table}",
                    ),
                ],
            )
        )
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="DeliveryErrors",
                actions=["logs:PutLogEvents"],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"{log_group.log_group_name}:log-stream:{DELIVERY_LOG_STREAM}",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        acknowledge(
            self.firehose_role,
            f"IAM5[Resource::<{self.get_logical_id(self._cfn(self.lake))}.Arn>/{lake_definition.LAKE_PREFIX}/*]",
            "Firehose names the objects it writes under the lake prefix (per partition, per delivery), so "
            "no narrower resource exists; write and multipart only, under this prefix of this bucket.",
        )
        acknowledge(
            self.firehose_role,
            f"IAM5[Resource::<{self.get_logical_id(self._cfn(self.lake))}.Arn>/{analytics.error_output_prefix}*]",
            "Firehose names the error objects it writes (by error type and date) under the error prefix, "
            "so no narrower resource exists; write only, under that prefix of this bucket.",
        )
        F = firehose.CfnDeliveryStream
        stream = F(
            self,
            "Delivery",
            delivery_stream_name=analytics.delivery_stream_name,
            delivery_stream_type="DirectPut",  # the pipe puts records; no Kinesis stream in between
            delivery_stream_encryption_configuration_input=F.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=F.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=self.lake.bucket_arn,
                role_arn=self.firehose_role.role_arn,
                prefix=firehose_prefix(),
                error_output_prefix=(
                    f"{analytics.error_output_prefix}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"
                ),
                buffering_hints=F.BufferingHintsProperty(
                    size_in_m_bs=analytics.buffer_size_mib,
                    interval_in_seconds=analytics.buffer_interval_seconds,
                ),
                compression_format="UNCOMPRESSED",
                encryption_configuration=F.EncryptionConfigurationProperty(
                    kms_encryption_config=F.KMSEncryptionConfigProperty(awskms_key_arn=self.lake_key.key_arn)
                ),
                cloud_watch_logging_options=F.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
                data_format_conversion_configuration=F.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=F.InputFormatConfigurationProperty(
                        deserializer=F.DeserializerProperty(open_x_json_ser_de=F.OpenXJsonSerDeProperty())
                    ),
                    output_format_configuration=F.OutputFormatConfigurationProperty(
                        serializer=F.SerializerProperty(
                            parquet_ser_de=F.ParquetSerDeProperty(compression=PARQUET_COMPRESSION)
                        )
                    ),
                    schema_configuration=F.SchemaConfigurationProperty(
                        catalog_id=self.account,
                        database_name=analytics.glue_database,
                        table_name=analytics.glue_table,
                        region=self.region,
                        role_arn=self.firehose_role.role_arn,
                        version_id="LATEST",
                    ),
                ),
                dynamic_partitioning_configuration=F.DynamicPartitioningConfigurationProperty(
                    enabled=True,
                    retry_options=F.RetryOptionsProperty(duration_in_seconds=FIREHOSE_RETRY_SECONDS),
                ),
                processing_configuration=F.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        F.ProcessorProperty(
                            type="MetadataExtraction",
                            parameters=[
                                F.ProcessorParameterProperty(
                                    parameter_name="MetadataExtractionQuery", parameter_value=PARTITION_QUERY
                                ),
                                F.ProcessorParameterProperty(
                                    parameter_name="JsonParsingEngine", parameter_value="JQ-1.6"
                                ),
                            ],
                        )
                    ],
                ),
            ),
        )
        # The role's policy must exist before Firehose checks it can reach the bucket and the table.
        policy = self.firehose_role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            stream.node.add_dependency(policy)
        stream.add_dependency(self.table)
        return stream

    def _pipe(self, analytics: AnalyticsAwsDefinition, stream_arn: str) -> pipes.CfnPipe:
        role = iam.Role(
            self,
            "PipeRole",
            assumed_by=iam.ServicePrincipal("pipes.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="Lake pipe: reads the table's stream, invokes the enrichment, puts to Firehose",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TableStream",
                actions=["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                resources=[stream_arn],
            )
        )
        # Pipes lists the table's streams when it starts (its documented source permissions);
        # ListStreams takes no resource narrower than "*" and returns stream ARNs only.
        role.add_to_policy(
            iam.PolicyStatement(sid="ListStreams", actions=["dynamodb:ListStreams"], resources=["*"])
        )
        acknowledge(
            role,
            "IAM5[Resource::*]",
            "Only dynamodb:ListStreams, which EventBridge Pipes needs for a DynamoDB stream source and "
            "which has no resource-level permissions; it returns stream ARNs, never items.",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Enrich", actions=["lambda:InvokeFunction"], resources=[self.enrich_function.function_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Deliver",
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[self.delivery_stream.attr_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeadLetters", actions=["sqs:SendMessage"], resources=[self.pipe_dead_letters.queue_arn]
            )
        )
        self.pipe_role = role
        P = pipes.CfnPipe
        pipe = P(
            self,
            "Pipe",
            name=analytics.pipe_name,
            description="Table changes (INSERT/MODIFY) to the lake's delivery stream",
            role_arn=role.role_arn,
            source=stream_arn,
            source_parameters=P.PipeSourceParametersProperty(
                dynamo_db_stream_parameters=P.PipeSourceDynamoDBStreamParametersProperty(
                    starting_position="LATEST",
                    batch_size=analytics.pipe_batch_size,
                    maximum_batching_window_in_seconds=analytics.pipe_max_batching_window_seconds,
                    maximum_retry_attempts=analytics.pipe_max_retry_attempts,
                    maximum_record_age_in_seconds=analytics.pipe_max_record_age_seconds,
                    # A failing batch is split until the bad record is alone, so one poison record
                    # dead-letters itself, not its neighbours.
                    on_partial_batch_item_failure="AUTOMATIC_BISECT",
                    dead_letter_config=P.DeadLetterConfigProperty(arn=self.pipe_dead_letters.queue_arn),
                ),
                filter_criteria=P.FilterCriteriaProperty(
                    filters=[P.FilterProperty(pattern=filter_pattern())]
                ),
            ),
            enrichment=self.enrich_function.function_arn,
            target=self.delivery_stream.attr_arn,
        )
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            pipe.node.add_dependency(policy)
        return pipe

    def _alarms(self, analytics: AnalyticsAwsDefinition, alerts: sns.ITopic) -> None:
        stream = {"DeliveryStreamName": analytics.delivery_stream_name}

        def firehose_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=name,
                dimensions_map=stream,
                period=ALARM_PERIOD,
                statistic=statistic,
            )

        alarms = [
            cloudwatch.Alarm(
                self,
                "DeliveryAlarm",
                alarm_name=analytics.delivery_alarm_name,
                alarm_description=(
                    f"{analytics.delivery_stream_name}: deliveries to the lake failed, or records failed Parquet "
                    f"conversion. Read the stream's error log (/aws/kinesisfirehose/{analytics.delivery_stream_name}) "
                    f"and `aws s3 ls --recursive s3://{self.lake.bucket_name}/{analytics.error_output_prefix}`; "
                    "fix the cause, then replay the error objects."
                ),
                metric=cloudwatch.MathExpression(
                    expression="IF(success < 1, 1, 0) + failed",
                    using_metrics={
                        "success": firehose_metric("DeliveryToS3.Success", cloudwatch.Stats.MINIMUM),
                        "failed": firehose_metric("FailedConversion.Records", cloudwatch.Stats.SUM),
                    },
                    period=ALARM_PERIOD,
                    label="Failed lake deliveries and conversions",
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "PartitionCountAlarm",
                alarm_name=analytics.partition_alarm_name,
                alarm_description=(
                    f"{analytics.delivery_stream_name}: active partitions reached "
                    f"{PARTITION_ALARM_FRACTION:.0%} of the {analytics.active_partitions_quota} quota, or "
                    "exceeded it (those records went to the error prefix as activePartitionExceeded). Raise "
                    "the quota or shard the pipe by school (see LucaAnalytics' notes); replay the errors."
                ),
                metric=cloudwatch.MathExpression(
                    expression=f"IF(exceeded > 0, {analytics.active_partitions_quota}, count)",
                    using_metrics={
                        "count": firehose_metric("PartitionCount", cloudwatch.Stats.MAXIMUM),
                        "exceeded": firehose_metric("PartitionCountExceeded", cloudwatch.Stats.MAXIMUM),
                    },
                    period=ALARM_PERIOD,
                    label="Active partitions (the quota when exceeded)",
                ),
                threshold=int(analytics.active_partitions_quota * PARTITION_ALARM_FRACTION),
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "PipeDeadLettersAlarm",
                alarm_name=analytics.pipe_dlq_alarm_name,
                alarm_description=(
                    f"Messages in {analytics.pipe_dlq_name}: table changes the pipe gave up on (enrichment or "
                    "delivery kept failing). Each names its stream shard and sequence numbers; read the "
                    "enrichment function's log, fix the cause, then backfill those changes. Read them with "
                    f"`aws sqs receive-message --queue-url {self.pipe_dead_letters.queue_url} "
                    "--max-number-of-messages 10 --visibility-timeout 0`."
                ),
                metric=self.pipe_dead_letters.metric_approximate_number_of_messages_visible(
                    period=cdk.Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for alarm in alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
        self.alarms = alarms


def filter_pattern() -> str:
    """The pipe's filter: only the changes ``flatten`` turns into rows (never REMOVE)."""
    return json.dumps({"eventName": sorted(lake_definition.LAKE_CHANGES)})
