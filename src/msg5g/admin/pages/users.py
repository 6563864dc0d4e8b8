"""Users and roles (用户与角色), and My account (我的账户).

Users and roles: the tenant's admin users with their role, the businesses they are limited to, whether
two-factor sign-in is on and whether they are locked or disabled; a tenant admin creates users, changes
their role and businesses and disables them. Granting is bounded by the granter (`domain.roles.
grant_refusal`, applied by `services.access.AdminAccounts` with `granted_by`): the page hands the
service the signed-in user and shows its refusal of anything beyond their own rights.

My account is every signed-in user's own, a platform admin's too, who need not have chosen a tenant for
it: its routes take `SignedInDep`, not `InTenantDep`, so they are not in `admin/permissions.POSTS` (which
`_in_tenant` consults) — a user may always see their own account and turn on two-factor sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.datastructures import FormData
from starlette.responses import Response

from msg5g.admin.context import AdminContext, InTenantDep, Operator, SignedInDep
from msg5g.admin.forms import FieldError, form_text
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import DoneQuery
from msg5g.domain.errors import DomainError
from msg5g.domain.roles import PASSWORD_MIN_LENGTH, ROLE_PERMISSIONS, Permission, Role
from msg5g.kit.clock import utcnow
from msg5g.services.access import AdminUserView

router = APIRouter()

Gettext = Callable[..., str]
UserId = Annotated[str, Path(min_length=1, max_length=64)]

ROLE_LABELS: dict[str, str] = {
    Role.PLATFORM_ADMIN: N_("Platform admin"),
    Role.TENANT_ADMIN: N_("Tenant admin"),
    Role.OPERATOR: N_("Business operator"),
    Role.AUDITOR: N_("Auditor"),
    Role.VIEWER: N_("Viewer"),
}
# The roles a tenant's users can hold: a platform admin belongs to no tenant.
TENANT_ROLES = tuple(role for role in Role if role is not Role.PLATFORM_ADMIN)

PERMISSION_LABELS: dict[str, str] = {
    Permission.READ: N_("see the tenant's pages"),
    Permission.SEE_NUMBERS: N_("see recipients' numbers unmasked"),
    Permission.SEND: N_("send messages"),
    Permission.MANAGE_CONTENT: N_("manage materials, templates and chatbots"),
    Permission.REVIEW: N_("review templates, mappings and bulk sends"),
    Permission.MANAGE_TENANT: N_("manage users, API keys and the enterprise record"),
    Permission.READ_AUDIT: N_("read the audit log"),
    Permission.MANAGE_PLATFORM: N_("manage channels, tenants, prices and caps"),
}

USER_LABELS: dict[str, str] = {
    "email": N_("Email"),
    "display_name": N_("Display name"),
    "password": N_("Initial password"),
    "role": N_("Role"),
    "business_ids": N_("Businesses"),
    "code": N_("Authenticator code"),
    "": N_("User"),
}

# The services' refusals these pages can meet, in words for an admin; the service's own message
# (English, with the particulars: which permission, which business) and its code are shown beside.
_DOMAIN_MESSAGES = {
    "grant_beyond_rights": N_("You cannot grant more than your own role and businesses allow."),
    "invalid_role": N_("That role cannot be given to a user of a tenant."),
    "weak_password": N_("The password is too weak."),
    "email_taken": N_("An admin user with this email exists already."),
    "business_not_found": N_("No such business in this tenant."),
    "own_account": N_("You cannot disable your own account."),
    "invalid_totp": N_("The authenticator code is wrong: enter the code the app shows now."),
    "totp_not_started": N_("Start the set-up first."),
}

_NOTICES = {
    "created": N_("User created. They sign in with the email and the initial password."),
    "changed": N_("Role and businesses changed."),
    "disabled": N_("User disabled: they can no longer sign in."),
    "totp_on": N_("Two-factor sign-in is on: signing in now asks for a code from the authenticator app."),
}


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def _notice(ctx: AdminContext, done: str | None) -> str | None:
    notice = _NOTICES.get(done or "")
    return ctx.gettext(notice) if notice else None


def domain_error(exc: DomainError, _: Gettext) -> FieldError:
    """A service's refusal, beside the input it is about."""
    name = exc.field if exc.field in USER_LABELS else ""
    known = _DOMAIN_MESSAGES.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field=name or "", label=_(USER_LABELS[name or ""]), message=message, code=exc.code)


def _inline(errors: list[FieldError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.field, []).append(error.inline)
    return found


# ---- the forms ------------------------------------------------------------------------------------


@dataclass(slots=True)
class UserForm:
    """The create form as posted; the password is never shown back."""

    email: str = ""
    display_name: str = ""
    role: str = Role.OPERATOR.value
    business_ids: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, form: FormData) -> UserForm:
        return cls(email=form_text(form, "email").strip(), display_name=form_text(form, "display_name").strip(),
                   role=form_text(form, "role"), business_ids=_business_ids(form))

    def get(self, name: str) -> str:
        value = getattr(self, name)
        return value if isinstance(value, str) else ""


def _business_ids(form: FormData) -> list[str]:
    return [v for v in form.getlist("business_ids") if isinstance(v, str) and v]


def _permissions(role: Role) -> list[Permission]:
    """A role's permissions in the order Permission declares them (from reading up to managing)."""
    return [p for p in Permission if p in ROLE_PERMISSIONS[role]]


def _role(value: str) -> Role | None:
    # Any role, platform_admin included, goes to the service, whose refusal the page shows.
    return next((role for role in Role if role.value == value), None)


def _role_and_businesses(form_role: str, business_ids: list[str], known: set[str],
                         _: Gettext) -> tuple[Role | None, list[FieldError]]:
    errors: list[FieldError] = []
    role = _role(form_role)
    if role is None:
        errors.append(FieldError(field="role", label=_("Role"), message=_("Choose a role.")))
    # AdminAccounts.create checks the businesses are the tenant's, set_role does not: checked here for both.
    if set(business_ids) - known:
        errors.append(FieldError(field="business_ids", label=_("Businesses"),
                                 message=_("No such business in this tenant."), code="business_not_found"))
    return role, errors


# ---- what the page shows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRow:
    view: AdminUserView
    business_names: list[str]  # empty: every business
    locked: bool
    manageable: bool  # the signed-in user may change this user (within their own rights)


def _manageable(op: Operator, view: AdminUserView) -> bool:
    """Whether the forms are offered for this user: the service refuses the rest anyway."""
    if not op.user.can(Permission.MANAGE_TENANT) or view.disabled:
        return False
    if ROLE_PERMISSIONS[view.role] - ROLE_PERMISSIONS[op.user.role]:
        return False
    if op.user.business_ids is None:
        return True
    return view.business_ids is not None and set(view.business_ids) <= op.user.business_ids


async def _tenant_user(op: Operator, user_id: str) -> AdminUserView | None:
    """A user of the tenant the admin works in. The service lets a platform admin reach any user; a page
    works in one tenant, so another tenant's user answers as an unknown one."""
    return next((u for u in await op.services.admins.users(op.tenant_id) if u.id == user_id), None)


def _no_user(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="users", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such user in this tenant."))


async def _page(op: Operator, *, form: UserForm | None = None, section: str = "",
                errors: list[FieldError] | None = None, notice: str | None = None,
                status_code: int = 200) -> Response:
    """The list and the create form; `section` names the form the `errors` are of ("create" or a user id)."""
    businesses = await op.services.provisioning.businesses(op.tenant_id)
    names = dict(businesses)
    now = utcnow()
    rows = [UserRow(view=u, business_names=[names.get(b, b) for b in u.business_ids or []],
                    locked=u.locked_until is not None and u.locked_until > now, manageable=_manageable(op, u))
            for u in await op.services.admins.users(op.tenant_id)]
    # What the signed-in user may hand out: their own businesses, and roles within their own rights.
    grantable = [r for r in TENANT_ROLES if not ROLE_PERMISSIONS[r] - ROLE_PERMISSIONS[op.user.role]]
    offered = [(b, name) for b, name in businesses if op.user.covers(b)]
    return op.ctx.render(
        "users.html", status_code=status_code, active="users", rows=rows, form=form or UserForm(),
        roles=grantable, role_labels=ROLE_LABELS, businesses=offered,
        can_manage=op.user.can(Permission.MANAGE_TENANT), limited=op.user.business_ids is not None,
        role_permissions=[(r, _permissions(r)) for r in TENANT_ROLES],
        permission_labels=PERMISSION_LABELS, min_password=PASSWORD_MIN_LENGTH, section=section,
        errors=errors or [], field_errors=_inline(errors or []), notice=notice)


# ---- users and roles ----------------------------------------------------------------------------------


@router.get("/users", name="users")
async def users_page(op: InTenantDep, done: DoneQuery = None) -> Response:
    return await _page(op, notice=_notice(op.ctx, done))


@router.post("/users", name="user_create")
async def user_create(op: InTenantDep) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    form = UserForm.parse(posted)
    password = form_text(posted, "password")
    known = {b for b, _name in await op.services.provisioning.businesses(op.tenant_id)}
    role, errors = _role_and_businesses(form.role, form.business_ids, known, _)
    if "@" not in form.email or len(form.email) > 320:
        errors.insert(0, FieldError(field="email", label=_("Email"), message=_("Not a valid email address.")))
    if not form.display_name or len(form.display_name) > 200:
        errors.insert(1, FieldError(field="display_name", label=_("Display name"),
                                    message=_("Required, at most %(count)s characters.", count=200)))
    if not password:
        errors.append(FieldError(field="password", label=_("Initial password"), message=_("Required.")))
    if errors or role is None:
        return await _page(op, form=form, section="create", errors=errors, status_code=422)
    try:
        # Empty: every business of the tenant (None), not none of them (an empty list).
        await op.services.admins.create(form.email, password, tenant_id=op.tenant_id,
                                        display_name=form.display_name, role=role,
                                        business_ids=form.business_ids or None, granted_by=op.user)
    except DomainError as exc:
        return await _page(op, form=form, section="create", errors=[domain_error(exc, _)], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("users", query={"done": "created"}))


@router.post("/users/{user_id}/role", name="user_set_role")
async def user_set_role(op: InTenantDep, user_id: UserId) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    if await _tenant_user(op, user_id) is None:
        return _no_user(op)
    business_ids = _business_ids(posted)
    known = {b for b, _name in await op.services.provisioning.businesses(op.tenant_id)}
    role, errors = _role_and_businesses(form_text(posted, "role"), business_ids, known, _)
    if errors or role is None:
        return await _page(op, section=user_id, errors=errors, status_code=422)
    try:
        await op.services.admins.set_role(op.user, user_id, role, business_ids or None)
    except DomainError as exc:
        return await _page(op, section=user_id, errors=[domain_error(exc, _)], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("users", query={"done": "changed"}))


@router.post("/users/{user_id}/disable", name="user_disable")
async def user_disable(op: InTenantDep, user_id: UserId) -> Response:
    _ = op.ctx.gettext
    if await _tenant_user(op, user_id) is None:
        return _no_user(op)
    try:
        await op.services.admins.disable(op.user, user_id)
    except DomainError as exc:
        return await _page(op, section=user_id, errors=[domain_error(exc, _)], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("users", query={"done": "disabled"}))


# ---- my account ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """A secret just made: shown on the answer to the set-up request only, never stored by the page."""

    secret: str
    uri: str


async def _own_view(ctx: AdminContext) -> AdminUserView | None:
    assert ctx.user is not None  # SignedInDep saw to it
    return next((u for u in await ctx.services.admins.users(ctx.user.tenant_id) if u.id == ctx.user.user_id), None)


async def _account_page(ctx: AdminContext, *, setup: TotpSetup | None = None, confirming: bool = False,
                        errors: list[FieldError] | None = None, notice: str | None = None,
                        status_code: int = 200) -> Response:
    """`setup`: the secret just made, with the code form; `confirming`: the code form alone, after a wrong
    code (the secret is not shown again: the app has it already, or the user starts again)."""
    assert ctx.user is not None
    own = await _own_view(ctx)
    names = dict(await ctx.services.provisioning.businesses(ctx.user.tenant_id)) if ctx.user.tenant_id else {}
    business_names = [names.get(b, b) for b in sorted(ctx.user.business_ids or [])]
    return ctx.render("account.html", status_code=status_code, active="account", account=ctx.user,
                      totp_enabled=bool(own and own.totp_enabled), created_at=own.created_at if own else None,
                      role_label=ROLE_LABELS[ctx.user.role], business_names=business_names,
                      permissions=_permissions(ctx.user.role), permission_labels=PERMISSION_LABELS,
                      setup=setup, confirming=confirming, errors=errors or [], field_errors=_inline(errors or []),
                      notice=notice)


@router.get("/account", name="account")
async def account_page(ctx: SignedInDep, done: DoneQuery = None) -> Response:
    return await _account_page(ctx, notice=_notice(ctx, done))


@router.post("/account/totp", name="account_totp_start")
async def account_totp_start(ctx: SignedInDep) -> Response:
    assert ctx.user is not None
    own = await _own_view(ctx)
    if own is not None and own.totp_enabled:
        # start_totp would replace the secret and turn two-factor sign-in off until a new code is shown:
        # a session alone (a borrowed or stolen one) must not be able to switch it off.
        error = FieldError(field="", label=ctx.gettext("Two-factor sign-in"),
                           message=ctx.gettext("Two-factor sign-in is on already."), code="totp_enabled")
        return await _account_page(ctx, errors=[error], status_code=409)
    secret, uri = await ctx.services.admins.start_totp(ctx.user.user_id)
    return await _account_page(ctx, setup=TotpSetup(secret=secret, uri=uri))


@router.post("/account/totp/confirm", name="account_totp_confirm")
async def account_totp_confirm(ctx: SignedInDep) -> Response:
    assert ctx.user is not None
    posted = await ctx.request.form()
    code = form_text(posted, "code").strip()
    if not code:
        error = FieldError(field="code", label=ctx.gettext("Authenticator code"), message=ctx.gettext("Required."))
        return await _account_page(ctx, confirming=True, errors=[error], status_code=422)
    try:
        await ctx.services.admins.confirm_totp(ctx.user.user_id, code)
    except DomainError as exc:
        return await _account_page(ctx, confirming=exc.code == "invalid_totp", errors=[domain_error(exc, ctx.gettext)],
                                   status_code=_status(exc))
    return ctx.redirect(ctx.url("account", query={"done": "totp_on"}))
