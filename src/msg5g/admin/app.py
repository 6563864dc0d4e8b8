"""Mounting the admin under /admin."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from msg5g.config import Settings
from msg5g.services.bundle import Services


def mount_admin(app: FastAPI, services: Callable[[], Services], settings: Settings) -> None:
    """Placeholder until the admin pages land."""
