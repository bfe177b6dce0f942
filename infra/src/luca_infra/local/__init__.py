"""The local platform: the whole of Luca on one machine, on an AWS emulator embedded in the process.

``LocalPlatform`` (in ``platform``) is the one composition root; ``luca up`` runs it in the foreground.
The modules here are the local stand-ins for what the CDK app deploys: the emulator and its
provisioning (from ``luca_infra.definitions``), the demo schools, and the API Gateway stand-in.
"""
