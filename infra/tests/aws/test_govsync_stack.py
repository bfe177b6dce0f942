"""The government path as deployed: schedule → starter → state machine → task functions → ministry.

Every expected value comes from ``PLATFORM_DEFINITION``, ``luca_govsync.definition`` or the functions'
own settings classes, so these tests fail when the CDK app drifts from what the local platform and the
service use. Intrinsics are resolved with a fake account and region (and fake names for what
CloudFormation would name), which is also how the IAM simulations read the policies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from luca_govsync.config import GovSyncSettings, StarterSettings
from luca_govsync.definition import (
    DEAD_LETTERED,
    BreakerPolicy,
    DefinitionSettings,
    breaker_policy,
    build_definition,
)
from luca_govsync.domain.errors import TRANSIENT_ERRORS
from luca_govsync.entrypoints import failure_streak
from luca_govsync.entrypoints.handlers import SERVICE as GOVSYNC_SERVICE
from luca_infra.aws.app import (
    CERTIFICATE_ARN_CONTEXT,
    MINISTRY_URL_CONTEXT,
    SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN,
    SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL,
    build_app,
)
from luca_infra.aws.govsync import (
    DLQ_ALARM_NAME,
    MINISTRY_CLIENT_ID_PLACEHOLDER,
    SCHEDULE_DLQ_ALARM_NAME,
    SCHEDULE_INPUT,
    SCHOOLS_PLACEHOLDER,
)
from luca_infra.aws.grading import IMAGE_DOCKERFILE
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_platform.contracts import roster as roster_contract

pytestmark = pytest.mark.infra

DEFINITION = PLATFORM_DEFINITION
GOVSYNC = DEFINITION.govsync
TENANT = DEFINITION.tenant_role
STACK = "LucaGovSync"
TASKS = GOVSYNC.tasks
STARTER = GOVSYNC.starter_task

ACCOUNT = "111122223333"
REGION = "eu-west-1"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{DEFINITION.table.name}"
TENANT_ARN = f"arn:aws:iam::{ACCOUNT}:role/{TENANT.name}"
BUCKET = f"{GOVSYNC.manifest_bucket_prefix}-{ACCOUNT}-{REGION}"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/manifests"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{GOVSYNC.ministry_secret_name}-AbCdEf"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{GOVSYNC.state_machine_name}"
PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{GOVSYNC.schools_parameter}"
TASKS_ROLE_NAME = GOVSYNC.tasks_role_name
TASKS_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{TASKS_ROLE_NAME}"
STARTER_ROLE_NAME = GOVSYNC.starter_role_name
SYNTH_CONTEXT = {
    CERTIFICATE_ARN_CONTEXT: SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN,
    MINISTRY_URL_CONTEXT: SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL,
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def _queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


# -- reading the template ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def govsync(synthesized: Any) -> dict[str, Any]:
    """The stack's resources by what they are, and what CloudFormation would make of their intrinsics."""
    resources = synthesized.templates[STACK]["Resources"]

    def one(resource_type: str, predicate: Callable[[dict[str, Any]], bool]) -> str:
        found = [
            lid
            for lid, r in resources.items()
            if r["Type"] == resource_type and predicate(r.get("Properties", {}))
        ]
        assert len(found) == 1, f"expected one {resource_type}: {found}"
        return found[0]

    functions = {
        task: one(
            "AWS::Lambda::Function", lambda p, t=task: p.get("FunctionName") == GOVSYNC.function_name(t)
        )
        for task in (*TASKS, STARTER)
    }
    queues = {
        name: one("AWS::SQS::Queue", lambda p, n=name: p.get("QueueName") == n)
        for name in (GOVSYNC.dlq_name, GOVSYNC.schedule_dlq_name)
    }
    ids = {
        "functions": functions,
        "dlq": queues[GOVSYNC.dlq_name],
        "schedule_dlq": queues[GOVSYNC.schedule_dlq_name],
        "bucket": one("AWS::S3::Bucket", lambda p: "VersioningConfiguration" in p),
        "access_logs": one("AWS::S3::Bucket", lambda p: "VersioningConfiguration" not in p),
        "key": one("AWS::KMS::Key", lambda p: True),
        "secret": one("AWS::SecretsManager::Secret", lambda p: True),
        "parameter": one("AWS::SSM::Parameter", lambda p: True),
        "state_machine": one("AWS::StepFunctions::StateMachine", lambda p: True),
        "schedule": one("AWS::Scheduler::Schedule", lambda p: True),
    }
    ids["tasks_role"] = resources[functions[TASKS[0]]]["Properties"]["Role"]["Fn::GetAtt"][0]
    ids["starter_role"] = resources[functions[STARTER]]["Properties"]["Role"]["Fn::GetAtt"][0]
    ids["state_machine_role"] = resources[ids["state_machine"]]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    ids["schedule_role"] = resources[ids["schedule"]]["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]

    arns: dict[str, str] = {
        ids["dlq"]: _queue_arn(GOVSYNC.dlq_name),
        ids["schedule_dlq"]: _queue_arn(GOVSYNC.schedule_dlq_name),
        ids["bucket"]: BUCKET_ARN,
        ids["access_logs"]: "arn:aws:s3:::access-logs",
        ids["key"]: KEY_ARN,
        ids["tasks_role"]: TASKS_ROLE_ARN,
        ids["starter_role"]: f"arn:aws:iam::{ACCOUNT}:role/{STARTER_ROLE_NAME}",
        ids["state_machine_role"]: f"arn:aws:iam::{ACCOUNT}:role/govsync-states-role",
        ids["schedule_role"]: f"arn:aws:iam::{ACCOUNT}:role/govsync-schedule-role",
    }
    arns |= {lid: _function_arn(GOVSYNC.function_name(task)) for task, lid in functions.items()}
    arns |= {
        lid: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{lid}:*"
        for lid, r in resources.items()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    refs: dict[str, str] = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
        ids["dlq"]: f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{GOVSYNC.dlq_name}",
        ids["bucket"]: BUCKET,
        ids["secret"]: SECRET_ARN,
        ids["parameter"]: GOVSYNC.schools_parameter,
        ids["state_machine"]: STATE_MACHINE_ARN,
    }
    queue_names = {ids["dlq"]: GOVSYNC.dlq_name, ids["schedule_dlq"]: GOVSYNC.schedule_dlq_name}

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return refs[value["Ref"]]
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(part)) for part in parts)
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            return {"Arn": arns, "QueueName": queue_names}[attribute][logical_id]
        if set(value) == {"Fn::ImportValue"}:
            # The only import: the data stack's table (its name; an ARN would mean table access).
            assert value["Fn::ImportValue"].startswith("LucaData:"), value
            return DEFINITION.table.name if "Ref" in value["Fn::ImportValue"] else TABLE_ARN
        return {key: resolve(item) for key, item in value.items()}

    return {"ids": ids, "resources": resources, "resolve": resolve}


def _properties(govsync: dict[str, Any], key: str) -> dict[str, Any]:
    properties: dict[str, Any] = govsync["resources"][govsync["ids"][key]]["Properties"]
    return properties


def _statements(synthesized: Any, govsync: dict[str, Any], role: str) -> list[dict[str, Any]]:
    role_id = govsync["ids"][role]
    statements = [
        statement
        for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    resolved: list[dict[str, Any]] = govsync["resolve"](statements)
    return resolved


def _grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """action -> the resources it is allowed on (every statement an unconditional-or-not Allow)."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, set()).update(_as_list(statement["Resource"]))
    return grants


# -- the state machine -------------------------------------------------------------------------------
def _placeholder_definition(govsync: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The deployed definition and ``build_definition``'s, both with ``<<LogicalId.Arn>>`` for ARNs."""
    definition = _properties(govsync, "state_machine")["DefinitionString"]
    assert set(definition) == {"Fn::Join"}
    separator, parts = definition["Fn::Join"]
    text = separator
    for part in parts:
        if isinstance(part, str):
            text += part
        elif set(part) == {"Fn::GetAtt"}:
            text += "<<{}.{}>>".format(*part["Fn::GetAtt"])
        else:
            text += f"<<{part['Ref']}>>"
    deployed = json.loads(text)
    functions = govsync["ids"]["functions"]
    expected = build_definition(
        DefinitionSettings(
            functions={task: f"<<{functions[task]}.Arn>>" for task in TASKS},
            dlq_url=f"<<{govsync['ids']['dlq']}>>",
            retry=GOVSYNC.retry,
            max_concurrency=GOVSYNC.max_concurrency,
        )
    )
    return deployed, expected


def test_state_machine_is_the_shared_definition_with_the_deployed_arns(govsync: dict[str, Any]) -> None:
    deployed, expected = _placeholder_definition(govsync)
    assert deployed == expected
    # And the placeholders are what the definition names: each task's own function, the DLQ's URL.
    states = deployed["States"]
    submit_states = states["SubmitBatches"]["ItemProcessor"]["States"]
    functions = govsync["ids"]["functions"]
    named = {
        "prepare": states["Prepare"],
        "submit": submit_states["Submit"],
        "record_failure": submit_states["RecordFailure"],
        "report": states["Report"],
    }
    for task, state in named.items():
        assert state["Resource"] == "arn:aws:states:::lambda:invoke"
        assert state["Parameters"]["FunctionName"] == f"<<{functions[task]}.Arn>>"
    assert submit_states["DeadLetter"]["Parameters"]["QueueUrl"] == f"<<{govsync['ids']['dlq']}>>"
    assert functions[STARTER] not in json.dumps(deployed)


def test_submit_retries_transient_ministry_errors_and_dead_letters_the_rest(govsync: dict[str, Any]) -> None:
    deployed, _ = _placeholder_definition(govsync)
    processor = deployed["States"]["SubmitBatches"]
    assert processor["MaxConcurrency"] == GOVSYNC.max_concurrency
    submit = processor["ItemProcessor"]["States"]["Submit"]
    (ministry, _lambda) = submit["Retry"]
    assert ministry == GOVSYNC.retry.to_retrier(tuple(error.__name__ for error in TRANSIENT_ERRORS))
    assert ministry["JitterStrategy"] == "FULL"
    assert ministry["MaxDelaySeconds"] == GOVSYNC.retry.max_delay_seconds
    assert submit["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"}]
    dead_letter = processor["ItemProcessor"]["States"]["DeadLetter"]
    assert dead_letter["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert dead_letter["Next"] == "RecordFailure"
    assert deployed["States"][DEAD_LETTERED]["Type"] == "Fail"


def test_a_schools_batches_share_the_production_breaker_and_wait_in_the_state_machine(
    govsync: dict[str, Any],
) -> None:
    deployed, _ = _placeholder_definition(govsync)
    states = deployed["States"]["SubmitBatches"]["ItemProcessor"]["States"]
    policy = BreakerPolicy.from_json(states["Submit"]["Parameters"]["Payload"]["breaker"])
    assert policy == breaker_policy(GOVSYNC.retry, GOVSYNC.breaker_threshold)
    assert policy is not None
    # One batch is held at most as long as its retries would wait, then its own retries decide.
    assert policy.pause_budget_seconds == GOVSYNC.retry.total_delay_seconds()
    assert states["Pause"]["Type"] == "Wait"  # waiting costs no function time
    assert states["Pause"]["Next"] == "Submit"
    # The breaker lives in the table under the school's keys: no new permission for any role.
    assert "dynamodb" not in json.dumps(states)


def test_state_machine_is_standard_logs_everything_and_traces(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    machine = _properties(govsync, "state_machine")
    assert machine["StateMachineName"] == GOVSYNC.state_machine_name
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    (destination,) = logging["Destinations"]
    log_group_id, attribute = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"]
    assert attribute == "Arn"
    log_group = govsync["resources"][log_group_id]
    assert (
        log_group["Properties"]["LogGroupName"]
        == GOVSYNC.log_group_name
        == "/aws/stepfunctions/government-sync"
    )
    assert log_group["Properties"]["RetentionInDays"] >= 365
    assert log_group["DeletionPolicy"] == "Retain"


def test_state_machine_role_invokes_exactly_the_four_tasks_and_sends_to_the_dlq(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    role = _properties(govsync, "state_machine_role")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role
    grants = _grants(_statements(synthesized, govsync, "state_machine_role"))
    assert grants["lambda:InvokeFunction"] == {_function_arn(GOVSYNC.function_name(task)) for task in TASKS}
    assert grants["sqs:SendMessage"] == {_queue_arn(GOVSYNC.dlq_name)}
    # The rest is what Step Functions needs to deliver logs and traces; none of it reads data.
    others = {action for action in grants if action not in ("lambda:InvokeFunction", "sqs:SendMessage")}
    assert all(action.startswith(("logs:", "xray:")) for action in others), others
    assert all(grants[action] == {"*"} for action in others)
    assert not {action for action in others if action.startswith("logs:") and "Get" not in action} - {
        "logs:CreateLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }


# -- the schedule ------------------------------------------------------------------------------------
def test_schedule_fires_quarterly_at_the_starter_with_its_scheduled_time(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    schedule = _properties(govsync, "schedule")
    assert schedule["Name"] == GOVSYNC.schedule_name
    assert schedule["ScheduleExpression"] == GOVSYNC.schedule_expression
    assert schedule["ScheduleExpressionTimezone"] == GOVSYNC.schedule_timezone
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [govsync["ids"]["functions"][STARTER], "Arn"]}
    # The starter reads the period from the time the schedule fired, not from when it ran.
    assert (
        json.loads(target["Input"]) == SCHEDULE_INPUT == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    )
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [govsync["ids"]["schedule_dlq"], "Arn"]}}
    # Its role: scheduler.amazonaws.com of this account, may invoke the starter and dead-letter.
    role = _properties(govsync, "schedule_role")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert _grants(_statements(synthesized, govsync, "schedule_role")) == {
        "lambda:InvokeFunction": {_function_arn(GOVSYNC.function_name(STARTER))},
        "sqs:SendMessage": {_queue_arn(GOVSYNC.schedule_dlq_name)},
    }


def test_a_failed_starter_lands_in_the_schedule_dlq_not_the_batches_one(govsync: dict[str, Any]) -> None:
    starter_id = govsync["ids"]["functions"][STARTER]
    starter = govsync["resources"][starter_id]["Properties"]
    assert starter["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": [govsync["ids"]["schedule_dlq"], "Arn"]}
    }
    (invoke_config,) = [
        r["Properties"]
        for r in govsync["resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]
    assert invoke_config["FunctionName"] == {"Ref": starter_id}
    assert invoke_config["MaximumRetryAttempts"] >= 1
    for task in TASKS:
        assert "DeadLetterConfig" not in govsync["resources"][govsync["ids"]["functions"][task]]["Properties"]


# -- alarms ------------------------------------------------------------------------------------------
def _ops_topic_name(synthesized: Any, action: dict[str, Any]) -> str:
    import_name = action["Fn::ImportValue"]
    stack = import_name.split(":", 1)[0]
    (value,) = [
        output["Value"]
        for output in synthesized.templates[stack]["Outputs"].values()
        if output.get("Export", {}).get("Name") == import_name
    ]
    topic = synthesized.templates[stack]["Resources"][value["Ref"]]
    assert topic["Type"] == "AWS::SNS::Topic"
    name: str = topic["Properties"]["TopicName"]
    return name


def test_three_failed_executions_in_a_row_page_the_ops_topic(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    """The alarm reads the failure-streak function's count (exact), not failures per hour."""
    resources = govsync["resources"]
    (alarm,) = [
        r["Properties"]
        for r in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"] == GOVSYNC.alarm_name
    ]
    assert GOVSYNC.alarm_name == "Luca-StepFunction-Failure-Alert"
    assert alarm["Namespace"] == DEFINITION.metrics_namespace
    assert alarm["MetricName"] == GOVSYNC.failure_streak_metric == failure_streak.METRIC
    assert alarm["Dimensions"] == [{"Name": "service", "Value": failure_streak.SERVICE}]
    assert alarm["Statistic"] == "Maximum"
    assert alarm["EvaluationPeriods"] == 1
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        GOVSYNC.alarm_consecutive_failures,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["TreatMissingData"] == "ignore"
    assert "`luca sync dlq --stage prod`" in alarm["AlarmDescription"]
    assert "`luca sync redrive --stage prod`" in alarm["AlarmDescription"]
    (action,) = alarm["AlarmActions"]
    assert _ops_topic_name(synthesized, action) == DEFINITION.alerts_topic

    # The counter: the govsync bundle's handler, told its state machine, allowed to list it only.
    (counter_id,) = [
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("FunctionName") == GOVSYNC.failure_streak_function_name
    ]
    counter = resources[counter_id]["Properties"]
    assert counter["Handler"] == GOVSYNC.failure_streak_handler
    variables = counter["Environment"]["Variables"]
    assert variables[failure_streak.STATE_MACHINE_ARN_ENV] == {"Ref": govsync["ids"]["state_machine"]}
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == DEFINITION.metrics_namespace
    role_id = counter["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    (listing,) = [s for s in statements if s.get("Sid") == "ListSyncs"]
    assert listing["Action"] == "states:ListExecutions"
    assert listing["Resource"] == {"Ref": govsync["ids"]["state_machine"]}

    # Every finished execution of this state machine, and nothing else, invokes it.
    (rule,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": govsync["ids"]["state_machine"]}]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [counter_id, "Arn"]}


def test_both_dead_letter_queues_page_the_ops_topic(synthesized: Any, govsync: dict[str, Any]) -> None:
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").values()
    }
    for name, queue in ((DLQ_ALARM_NAME, "dlq"), (SCHEDULE_DLQ_ALARM_NAME, "schedule_dlq")):
        alarm = alarms[name]
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Dimensions"] == [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": [govsync["ids"][queue], "QueueName"]}}
        ]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        (action,) = alarm["AlarmActions"]
        assert _ops_topic_name(synthesized, action) == DEFINITION.alerts_topic


# -- storage -----------------------------------------------------------------------------------------
def _denies_plain_http(synthesized: Any, policy_type: str, target_key: str, logical_id: str) -> bool:
    for policy in synthesized.resources(STACK, policy_type).values():
        targets = _as_list(policy["Properties"][target_key])
        if {"Ref": logical_id} not in targets:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement["Principal"] == {"AWS": "*"}
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            ):
                return True
    return False


def test_manifest_bucket_is_private_encrypted_versioned_logged_and_expires(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    bucket = _properties(govsync, "bucket")
    assert govsync["resolve"](bucket["BucketName"]) == BUCKET
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [govsync["ids"]["key"], "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True
    assert _properties(govsync, "key")["EnableKeyRotation"] is True
    for name in ("bucket", "access_logs"):
        assert _properties(govsync, name)["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert _denies_plain_http(synthesized, "AWS::S3::BucketPolicy", "Bucket", govsync["ids"][name])
        assert govsync["resources"][govsync["ids"][name]]["DeletionPolicy"] == "Retain"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (lifecycle,) = bucket["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert 365 <= lifecycle["ExpirationInDays"] <= 731
    assert lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": govsync["ids"]["access_logs"]}


def test_dead_letter_queues_are_encrypted_ssl_only_and_kept_as_defined(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    for key in ("dlq", "schedule_dlq"):
        queue = _properties(govsync, key)
        assert queue["SqsManagedSseEnabled"] is True
        assert queue["MessageRetentionPeriod"] == GOVSYNC.dlq_retention_days * 86400
        assert _denies_plain_http(synthesized, "AWS::SQS::QueuePolicy", "Queues", govsync["ids"][key])


def test_ministry_secret_and_schools_parameter_are_placeholders_for_operators(
    govsync: dict[str, Any],
) -> None:
    secret = _properties(govsync, "secret")
    assert secret["Name"] == GOVSYNC.ministry_secret_name
    generated = secret["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {"client_id": MINISTRY_CLIENT_ID_PLACEHOLDER}
    assert generated["GenerateStringKey"] == "client_secret"
    assert "SecretString" not in secret
    parameter = _properties(govsync, "parameter")
    assert parameter["Name"] == GOVSYNC.schools_parameter
    assert parameter["Type"] == "StringList"
    # The placeholder is no school id, so an unconfigured list fails the start loudly.
    assert parameter["Value"] == SCHOOLS_PLACEHOLDER
    assert "#" in SCHOOLS_PLACEHOLDER


# -- the functions -----------------------------------------------------------------------------------
def test_functions_are_the_govsync_bundle_on_arm64(
    synthesized: Any, govsync: dict[str, Any], govsync_bundle: Path
) -> None:
    assets = json.loads((synthesized.outdir / f"{STACK}.assets.json").read_text())
    keys = set()
    for task, logical_id in govsync["ids"]["functions"].items():
        function = govsync["resources"][logical_id]["Properties"]
        assert function["Handler"] == GOVSYNC.handler(task)
        assert function["Runtime"] == GOVSYNC.runtime
        assert function["Architectures"] == [GOVSYNC.architecture] == ["arm64"]
        assert function["MemorySize"] == GOVSYNC.memory_mib
        timeout = GOVSYNC.starter_timeout_seconds if task == STARTER else GOVSYNC.function_timeout_seconds
        assert function["Timeout"] == timeout
        assert function["TracingConfig"] == {"Mode": "Active"}
        log_group = govsync["resources"][function["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert log_group["RetentionInDays"] > 0
        keys.add(function["Code"]["S3Key"])
    # One file asset for all five, the very zip the bundle builder made.
    (key,) = keys
    (asset,) = [
        a for a in assets["files"].values() if key in [d["objectKey"] for d in a["destinations"].values()]
    ]
    assert asset["source"]["packaging"] == "file"
    assert (synthesized.outdir / asset["source"]["path"]).read_bytes() == govsync_bundle.read_bytes()
    roles = {
        task: govsync["resources"][lid]["Properties"]["Role"]["Fn::GetAtt"][0]
        for task, lid in govsync["ids"]["functions"].items()
    }
    assert {roles[task] for task in TASKS} == {govsync["ids"]["tasks_role"]}
    assert roles[STARTER] == govsync["ids"]["starter_role"] != govsync["ids"]["tasks_role"]


def _environment(govsync: dict[str, Any], task: str) -> dict[str, str]:
    function = govsync["resources"][govsync["ids"]["functions"][task]]["Properties"]
    environment: dict[str, str] = govsync["resolve"](function["Environment"]["Variables"])
    return environment


def test_task_environment_is_what_the_tasks_read(govsync: dict[str, Any]) -> None:
    environments = [_environment(govsync, task) for task in TASKS]
    assert all(environment == environments[0] for environment in environments)
    environment = environments[0]
    settings = GovSyncSettings.from_environment(environment)
    assert settings.table_name == DEFINITION.table.name
    assert settings.manifest_bucket == BUCKET
    assert settings.ministry_url == SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL
    assert settings.ministry_secret_arn == SECRET_ARN
    assert (settings.ministry_client_id, settings.ministry_client_secret) == ("", "")
    assert settings.batch_size == GOVSYNC.batch_size
    assert settings.ministry_timeout_seconds == GOVSYNC.ministry_timeout_seconds
    assert settings.ministry_timeout_seconds < GOVSYNC.function_timeout_seconds
    assert settings.tenant_role_arn == TENANT_ARN
    assert settings.aws_region == REGION
    assert settings.aws_endpoint_url is None
    assert environment["POWERTOOLS_SERVICE_NAME"] == GOVSYNC_SERVICE
    # Every LUCA_ variable is one the tasks read: changing it changes their settings.
    for name in [n for n in environment if n.startswith("LUCA_")]:
        changed = {**environment, name: "7" if environment[name].isdigit() else "changed"}
        assert GovSyncSettings.from_environment(changed) != settings, f"the tasks ignore {name}"


def test_starter_environment_is_what_the_starter_reads(govsync: dict[str, Any]) -> None:
    environment = _environment(govsync, STARTER)
    settings = StarterSettings.from_environment(environment)
    assert settings.state_machine_arn == STATE_MACHINE_ARN
    assert settings.schools_parameter == GOVSYNC.schools_parameter
    assert settings.aws_region == REGION
    assert environment["POWERTOOLS_SERVICE_NAME"] == GOVSYNC_SERVICE
    for name in [n for n in environment if n.startswith("LUCA_")]:
        assert StarterSettings.from_environment({**environment, name: "changed"}) != settings, name
    # The starter never talks to the ministry; it reads the table (terms, sync state) only as one
    # school, through the tenant role.
    assert not {name for name in environment if "MINISTRY" in name}
    assert settings.table_name == environment["LUCA_TABLE_NAME"]
    assert settings.tenant_role_arn


# -- identities --------------------------------------------------------------------------------------
def test_no_govsync_role_has_any_table_permission(synthesized: Any) -> None:
    for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _as_list(statement["Action"])
            assert not [a for a in actions if a.lower().startswith("dynamodb:") or a == "*"], statement
    for role in synthesized.resources(STACK, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
        assert "Policies" not in role["Properties"]


def test_tasks_role_reaches_manifests_secret_and_one_school_only(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    grants = _grants(_statements(synthesized, govsync, "tasks_role"))
    log_groups = {
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{lid}:*"
        for task in TASKS
        for lid in [
            govsync["resources"][govsync["ids"]["functions"][task]]["Properties"]["LoggingConfig"][
                "LogGroup"
            ]["Ref"]
        ]
    }
    assert grants == {
        "sts:AssumeRole": {TENANT_ARN},
        "sts:TagSession": {TENANT_ARN},
        "s3:GetObject": {f"{BUCKET_ARN}/*"},
        "s3:PutObject": {f"{BUCKET_ARN}/*"},
        "kms:Decrypt": {KEY_ARN},
        "kms:GenerateDataKey": {KEY_ARN},
        "secretsmanager:GetSecretValue": {SECRET_ARN},
        "logs:CreateLogStream": log_groups,
        "logs:PutLogEvents": log_groups,
        "xray:PutTraceSegments": {"*"},
        "xray:PutTelemetryRecords": {"*"},
    }


def test_starter_may_only_start_and_see_this_state_machine_read_the_schools_and_act_as_one_school(
    synthesized: Any, govsync: dict[str, Any]
) -> None:
    grants = _grants(_statements(synthesized, govsync, "starter_role"))
    starter = govsync["resources"][govsync["ids"]["functions"][STARTER]]["Properties"]
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{starter['LoggingConfig']['LogGroup']['Ref']}:*"
    assert grants == {
        # Terms and sync state, read as one school at a time (the tenant role confines the keys).
        "sts:AssumeRole": {TENANT_ARN},
        "sts:TagSession": {TENANT_ARN},
        "states:StartExecution": {STATE_MACHINE_ARN},
        "states:DescribeExecution": {
            f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{GOVSYNC.state_machine_name}:*"
        },
        "ssm:GetParameter": {PARAMETER_ARN},
        "sqs:SendMessage": {_queue_arn(GOVSYNC.schedule_dlq_name)},  # its own failures, asynchronously
        "logs:CreateLogStream": {log_group},
        "logs:PutLogEvents": {log_group},
        "xray:PutTraceSegments": {"*"},
        "xray:PutTelemetryRecords": {"*"},
    }


@pytest.fixture(scope="module")
def tenant_trust(synthesized: Any) -> dict[str, Any]:
    """The tenant role's trust (data stack), resolved with the fake account."""
    (tenant,) = [
        r
        for r in synthesized.resources("LucaData", "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == TENANT.name
    ]

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT}[value["Ref"]]
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(part)) for part in parts)
        return {key: resolve(item) for key, item in value.items()}

    resolved: dict[str, Any] = resolve(tenant["Properties"]["AssumeRolePolicyDocument"])
    return resolved


def test_the_tasks_role_is_named_as_the_tenant_trust_admits_it(
    govsync: dict[str, Any], tenant_trust: dict[str, Any]
) -> None:
    assert govsync["resources"][govsync["ids"]["tasks_role"]]["Properties"]["RoleName"] == TASKS_ROLE_NAME
    (statement,) = tenant_trust["Statement"]
    assert TASKS_ROLE_ARN in statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]


def test_tasks_become_one_school_and_never_touch_the_table_or_other_buckets_themselves(
    simulate_iam: Any, synthesized: Any, govsync: dict[str, Any], tenant_trust: dict[str, Any]
) -> None:
    tasks_policy = {"Version": "2012-10-17", "Statement": _statements(synthesized, govsync, "tasks_role")}
    starter_policy = {"Version": "2012-10-17", "Statement": _statements(synthesized, govsync, "starter_role")}
    tag = TENANT.session_tag

    def request(
        policy: dict[str, Any],
        role_name: str,
        action: str,
        resource: str,
        context: dict[str, Any] | None = None,
        trust: bool = False,
    ) -> dict[str, Any]:
        simulation: dict[str, Any] = {
            "request": {
                "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{GOVSYNC.function_name(TASKS[0])}",
                "action": action,
                "resource": {"resource": resource, "accountId": ACCOUNT},
                "contextVariables": {
                    **(context or {}),
                    "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
                },
            },
            "identityPolicies": [{"name": "govsync", "policy": policy}],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        if trust:
            simulation["resourcePolicy"] = tenant_trust
        return simulation

    school = {f"aws:RequestTag/{tag}": "A", "aws:TagKeys": [tag]}
    own_key = roster_contract.student_pk("A", "1")
    expectations: dict[str, tuple[dict[str, Any], str]] = {
        "tasks assume the tenant role as one school": (
            request(tasks_policy, TASKS_ROLE_NAME, "sts:AssumeRole", TENANT_ARN, school, trust=True),
            "Allowed",
        ),
        "tasks tag the session with one school": (
            request(tasks_policy, TASKS_ROLE_NAME, "sts:TagSession", TENANT_ARN, school, trust=True),
            "Allowed",
        ),
        "tasks assume the tenant role with no school": (
            request(tasks_policy, TASKS_ROLE_NAME, "sts:AssumeRole", TENANT_ARN, {}, trust=True),
            "ImplicitlyDenied",
        ),
        "tasks assume the tenant role for every school": (
            request(
                tasks_policy,
                TASKS_ROLE_NAME,
                "sts:AssumeRole",
                TENANT_ARN,
                {f"aws:RequestTag/{tag}": "*", "aws:TagKeys": [tag]},
                trust=True,
            ),
            "ImplicitlyDenied",
        ),
        "the starter assumes the tenant role as one school": (
            request(starter_policy, STARTER_ROLE_NAME, "sts:AssumeRole", TENANT_ARN, school, trust=True),
            "Allowed",
        ),
        "the starter assumes the tenant role with no school": (
            request(starter_policy, STARTER_ROLE_NAME, "sts:AssumeRole", TENANT_ARN, {}, trust=True),
            "ImplicitlyDenied",
        ),
        "tasks read a manifest": (
            request(
                tasks_policy, TASKS_ROLE_NAME, "s3:GetObject", f"{BUCKET_ARN}/A/2025-T1/s/batch-00001.json"
            ),
            "Allowed",
        ),
        "tasks read another bucket": (
            request(tasks_policy, TASKS_ROLE_NAME, "s3:GetObject", "arn:aws:s3:::luca-data-lake/A/x.parquet"),
            "ImplicitlyDenied",
        ),
        "tasks delete a manifest": (
            request(
                tasks_policy, TASKS_ROLE_NAME, "s3:DeleteObject", f"{BUCKET_ARN}/A/2025-T1/s/batch-00001.json"
            ),
            "ImplicitlyDenied",
        ),
        "tasks list the manifests": (
            request(tasks_policy, TASKS_ROLE_NAME, "s3:ListBucket", BUCKET_ARN),
            "ImplicitlyDenied",
        ),
        "tasks read another secret": (
            request(
                tasks_policy,
                TASKS_ROLE_NAME,
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:luca/other-XyZ123",
            ),
            "ImplicitlyDenied",
        ),
        "the starter starts this state machine": (
            request(starter_policy, STARTER_ROLE_NAME, "states:StartExecution", STATE_MACHINE_ARN),
            "Allowed",
        ),
        "the starter starts another state machine": (
            request(
                starter_policy,
                STARTER_ROLE_NAME,
                "states:StartExecution",
                f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:other",
            ),
            "ImplicitlyDenied",
        ),
        "the starter stops an execution": (
            request(
                starter_policy,
                STARTER_ROLE_NAME,
                "states:StopExecution",
                f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{GOVSYNC.state_machine_name}:govsync-A-2025-T1",
            ),
            "ImplicitlyDenied",
        ),
        "the starter reads another parameter": (
            request(
                starter_policy,
                STARTER_ROLE_NAME,
                "ssm:GetParameter",
                f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/luca/other",
            ),
            "ImplicitlyDenied",
        ),
    }
    for action in (*TENANT.actions, "dynamodb:Scan"):
        for name, policy, role_name in (
            ("tasks", tasks_policy, TASKS_ROLE_NAME),
            ("the starter", starter_policy, STARTER_ROLE_NAME),
        ):
            expectations[f"{name} {action} with their own identity"] = (
                request(policy, role_name, action, TABLE_ARN, {"dynamodb:LeadingKeys": [own_key]}),
                "ImplicitlyDenied",
            )

    results = simulate_iam({name: simulation for name, (simulation, _) in expectations.items()})
    wrong = {name: (results[name], want) for name, (_, want) in expectations.items() if results[name] != want}
    assert not wrong, wrong


# -- composition -------------------------------------------------------------------------------------
@pytest.fixture
def bare_repository(tmp_path: Path) -> Path:
    """A repository root with the grading Dockerfile and nothing in dist/."""
    (tmp_path / IMAGE_DOCKERFILE).parent.mkdir(parents=True)
    (tmp_path / IMAGE_DOCKERFILE).write_text("FROM scratch\n")
    return tmp_path


def test_a_missing_govsync_bundle_says_to_run_make_bundle(bare_repository: Path, ingest_bundle: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make bundle") as missing:
        build_app(
            str(bare_repository / "cdk.out"),
            context=SYNTH_CONTEXT,
            repo_root=bare_repository,
            ingest_bundle=ingest_bundle,
        )
    assert str(bare_repository / GOVSYNC.bundle) in str(missing.value)


@pytest.mark.parametrize("url", [None, "", "http://records.ministry.invalid", "https://"])
def test_the_ministry_url_is_required_and_https(
    bare_repository: Path, ingest_bundle: Path, govsync_bundle: Path, url: str | None
) -> None:
    context = {key: value for key, value in SYNTH_CONTEXT.items() if key != MINISTRY_URL_CONTEXT}
    if url is not None:
        context[MINISTRY_URL_CONTEXT] = url
    with pytest.raises(ValueError, match=MINISTRY_URL_CONTEXT):
        build_app(
            str(bare_repository / "cdk.out"),
            context=context,
            repo_root=bare_repository,
            ingest_bundle=ingest_bundle,
            govsync_bundle=govsync_bundle,
        )


def test_the_failure_streak_handler_is_in_the_govsync_bundle(govsync_bundle: Path) -> None:
    import zipfile

    module = GOVSYNC.failure_streak_handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
    with zipfile.ZipFile(govsync_bundle) as bundle:
        assert module in bundle.namelist()
