"""The server-rendered admin web (FastAPI + Jinja2 + htmx)."""
