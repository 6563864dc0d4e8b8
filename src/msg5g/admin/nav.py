"""The navigation list. A new admin section adds its route and one NavItem here.

`route` is the name of the page's route in the admin app; None renders the entry as "coming soon"
so that the layout shows where each planned section will go. A `platform_only` entry is left out of
the navigation of tenant admins, whom its pages refuse anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from msg5g.admin.i18n import N_


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str  # also the id the active page passes to the layout
    label: str  # an English msgid, translated when rendered
    route: str | None
    platform_only: bool = False


NAV: list[NavItem] = [
    NavItem("dashboard", N_("Dashboard"), "dashboard"),
    NavItem("messages", N_("Messages"), "messages"),
    NavItem("send", N_("Send"), "send_form"),
    NavItem("inbox", N_("Inbox"), "inbox"),
    NavItem("materials", N_("Materials"), "materials"),
    NavItem("templates", N_("Templates"), "templates"),
    NavItem("chatbots", N_("Chatbots"), "chatbots"),
    NavItem("profiles", N_("Chatbot profiles"), "profiles"),
    NavItem("directory", N_("Directory search"), "directory_search"),
    NavItem("applications", N_("Carrier applications"), "applications"),
    NavItem("businesses", N_("Businesses"), "businesses"),
    NavItem("mappings", N_("Business mappings"), "mappings"),
    NavItem("capacity", N_("Capacity"), "capacity"),
    NavItem("users", N_("Users and roles"), "users"),
    NavItem("api_keys", N_("API keys"), "api_keys"),
    NavItem("audit", N_("Audit log"), "audit"),
    NavItem("alerts", N_("Alerts"), "alerts"),
    NavItem("billing", N_("Billing"), None),
    NavItem("reports", N_("Reports"), None),
    NavItem("tenants", N_("Tenants"), "choose_tenant", platform_only=True),
    NavItem("channels", N_("Channels"), "channels", platform_only=True),
    NavItem("account", N_("My account"), "account"),
]
