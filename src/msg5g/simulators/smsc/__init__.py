"""SMPP 3.4 SMSC simulator: an asyncio SMPP server plus an HTTP control API over one in-memory state.

Run it with ``python -m msg5g.simulators.smsc --smpp-port 2775 --http-port 9105 --account id:password``
or embed it::

    simulator = SmscSimulator(SmscSettings(accounts=[SmscAccount("esme", "secret", ("1069001",))]))
    port = await simulator.start("127.0.0.1", 0)
    app = create_control_app(simulator)   # serve with uvicorn on its own port
    ...
    await simulator.close()

The PDU codec (`pdu.py`) is written from the SMPP 3.4 specification and shares nothing with any
client library; see its docstring for why.
"""

from .app import create_control_app
from .server import SmscSimulator
from .settings import ConfigError, Faults, Outcome, SmscAccount, SmscSettings

__all__ = ["ConfigError", "Faults", "Outcome", "SmscAccount", "SmscSettings", "SmscSimulator", "create_control_app"]
