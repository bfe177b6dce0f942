"""The AWS side of the platform: a CDK app with one stack per deployable plus shared stacks.

``luca_infra.aws.app.build_app()`` composes it; every name and setting comes from
``luca_infra.definitions.PLATFORM_DEFINITION`` and the table's design (``luca_platform.table.keys``);
what it needs of a service it reads from that service's config, entrypoints and definition modules.
The repeated shapes (a Lambda function from a bundle, a Fargate service behind the shared ALB) are
constructs in ``constructs``. Nothing here does I/O at import time, and synthesis needs no AWS
account, credentials or Docker.
"""
