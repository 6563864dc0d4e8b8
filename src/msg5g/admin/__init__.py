"""The server-rendered admin web: FastAPI + Jinja2, plain forms, no JavaScript required.

`app.mount_admin` puts it under /admin. Layout: `context` (per-request session, user, language and
the page dependencies), `session` (signed cookie, CSRF), `i18n` (catalogs; extraction commands in its
docstring), `nav` (the navigation list), `forms` (HTML form -> service request), `pages/*` (one
router per section), `templates/`, `static/`, `locale/`.
"""
