"""China Mobile (CMCC) MaaP chatbot API simulator (OMA-REST NetAPI messaging, XML flavour).

Run it with ``python -m msg5g.simulators.cmcc --port 9101 --chatbot id:appid:password:notify_url``
or embed it with ``create_app(SimulatorSettings(...))``. Wire facts come from
/work/shared/reference/protocols.md; inferred choices are listed in ``constants.py``.
"""

from .app import create_app
from .settings import ChatbotAccount, ConfigError, Faults, SimulatorSettings

__all__ = ["ChatbotAccount", "ConfigError", "Faults", "SimulatorSettings", "create_app"]
