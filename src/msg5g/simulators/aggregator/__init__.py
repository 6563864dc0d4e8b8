"""Third-party aggregator (CSP reselling CMCC, CTCC and CUCC) simulator: invented send, media
upload and template APIs, Submail-style status/revoke/Media/Template events and Dahantc-style MO
pushes; it hosts the files it was given.

Run it with ``python -m msg5g.simulators.aggregator --port 9104 --account appid:appkey:push_url
--chatbot chatbot_id:appid`` or embed it with ``create_app(SimulatorSettings(...))``. The wire
format follows docs/protocol-choices.md ("Third-party aggregator") and protocols.md §3.6;
inferred and invented choices are listed in ``constants.py``.
"""

from .app import create_app
from .settings import Account, ConfigError, Faults, SimulatorSettings

__all__ = ["Account", "ConfigError", "Faults", "SimulatorSettings", "create_app"]
