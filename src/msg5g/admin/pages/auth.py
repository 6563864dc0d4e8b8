"""Signing in and out, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from msg5g.admin.context import AnyoneDep, NextQuery, SignedInDep
from msg5g.admin.forms import form_text
from msg5g.admin.i18n import LANGUAGE_COOKIE, LOCALES
from msg5g.domain.errors import Unauthenticated

router = APIRouter()

_LANGUAGE_COOKIE_SECONDS = 365 * 86400


@router.get("/login", name="login")
async def login_form(ctx: AnyoneDep, next_path: NextQuery = None,
                     idle: Annotated[str | None, Query(max_length=1)] = None) -> Response:
    if ctx.user is not None:
        return ctx.redirect(ctx.safe_next(next_path))
    timed_out = ctx.session.timed_out or idle == "1"
    return ctx.render("login.html", next=next_path or "", email="", totp=False,
                      error=ctx.gettext("You were signed out after a while without activity.") if timed_out else None)


@router.post("/login", name="login_submit")
async def login(ctx: AnyoneDep) -> Response:
    form = await ctx.request.form()
    email, password, target = form_text(form, "email").strip(), form_text(form, "password"), form_text(form, "next")
    code = form_text(form, "totp").strip() or None
    try:
        user = await ctx.services.admins.login(email, password, code)
    except Unauthenticated as exc:
        messages = {
            "totp_required": ctx.gettext("Enter the code from your authenticator app."),
            "invalid_totp": ctx.gettext("The authenticator code is wrong."),
            "account_locked": ctx.gettext("Too many failed sign-ins: the account is locked for a while."),
        }
        return ctx.render("login.html", status_code=401, next=target, email=email,
                          totp=exc.code in {"totp_required", "invalid_totp"},
                          error=messages.get(exc.code, ctx.gettext("Wrong email or password.")))
    ctx.session.sign_in(user.user_id)
    return ctx.redirect(ctx.safe_next(target))


@router.post("/logout", name="logout")
async def logout(ctx: SignedInDep) -> Response:
    ctx.session.sign_out()
    return ctx.redirect(ctx.url("login"))


@router.get("/language/{code}", name="language")
async def switch_language(ctx: AnyoneDep, code: str, next_path: NextQuery = None) -> Response:
    response = ctx.redirect(ctx.safe_next(next_path))
    if code in LOCALES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=_LANGUAGE_COOKIE_SECONDS, path=ctx.root_path,
                            httponly=True, samesite="lax", secure=ctx.request.url.scheme == "https")
    return response
