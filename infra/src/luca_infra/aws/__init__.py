"""The AWS side of the platform: a CDK app with one stack per deployable plus shared stacks.

``luca_infra.aws.app.build_app()`` composes it; every name and setting comes from
``luca_infra.definitions.PLATFORM_DEFINITION`` and the grading service's table design. Nothing here
does I/O at import time, and synthesis needs no AWS account, credentials or Docker.
"""
