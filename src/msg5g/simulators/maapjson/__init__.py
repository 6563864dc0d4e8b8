"""China Telecom / China Unicom MaaP "Chatbot 接口" JSON simulator (`/bot/v1/{chatbotURI}/...`).

One package, two dialects chosen by ``SimulatorSettings.dialect`` (``"ctcc"`` or ``"cucc"``). Run it
with ``python -m msg5g.simulators.maapjson --dialect ctcc --port 9102 --chatbot
id:appid:appkey:token:notify_root`` or embed it with ``create_app(SimulatorSettings(...))``. Besides
sending and revoking it takes media uploads (素材), audits them and hosts the files it issued, and
keeps each chatbot's information and persistent menu (audited likewise), its carrier-side status and a
directory of the approved, online chatbots. Wire
facts come from /work/shared/reference/protocols.md and docs/protocol-choices.md; inferred
choices are listed in ``constants.py``.
"""

from .app import create_app
from .settings import ChatbotAccount, ConfigError, Faults, SimulatorSettings

__all__ = ["ChatbotAccount", "ConfigError", "Faults", "SimulatorSettings", "create_app"]
