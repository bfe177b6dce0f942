"""A stand-in for the ministry's records API: the contract in ``luca_govsync/ministry/openapi.yaml``,
served over real HTTP with the faults the real one shows (errors, 429 bursts, outages, hangs,
garbage answers, expiring tokens), and a ledger of what it accepted to prove nothing lands twice.
"""

from luca_govsync.simulator.app import create_app
from luca_govsync.simulator.faults import FaultPlan, InvalidFaultPlan
from luca_govsync.simulator.server import SimulatorServer
from luca_govsync.simulator.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimulatedMinistry

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FaultPlan",
    "InvalidFaultPlan",
    "SimulatedMinistry",
    "SimulatorServer",
    "create_app",
]
