"""Demo data for `manage.py load_demo`: the users of the walk-through, two teams and the
demo number on the sandbox. Idempotent; refused unless DEBUG or SANDBOX_ENABLED, so demo
users never exist in production."""

from __future__ import annotations

import importlib
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token

from agents.models import Team
from conversations.models import WhatsAppNumber
from conversations.numbers import number_upsert
from conversations.providers.sandbox.services import template_ensure_sample

# Parts that add their own demo data, each with `load(stdout)`; a part not installed is skipped.
DEMO_MODULES = ("agents.demo", "bots.demo", "notifications.demo")

DEMO_NUMBER = {
    "name": "Demo support line",
    "phone_number_id": "100000000000001",
    "business_account_id": "200000000000001",
    "display_phone_number": "15550100001",
    "access_token": "sandbox-access-token",
    "app_secret": "sandbox-app-secret",
    "verify_token": "sandbox-verify-token",
}

# username: (first name, last name, superuser)
USERS = {
    "admin": ("Ada", "Admin", True),
    "supervisor": ("Sam", "Supervisor", False),
    "agent1": ("Alex", "Agent", False),
    "agent2": ("Bea", "Agent", False),
    "agent3": ("Chris", "Agent", False),
}

# name: (slug, members, supervisors)
TEAMS = {
    "Support": ("support", ["agent1", "agent2"], ["supervisor"]),
    "Billing": ("billing", ["agent2", "agent3"], ["supervisor"]),
}


class DemoRefused(Exception):
    """Demo data is only for DEBUG or sandbox-enabled settings."""


def sandbox_graph_base(port: int) -> str:
    return f"http://127.0.0.1:{port}/sandbox/graph/v23.0"


def _users() -> dict[str, Any]:
    User = get_user_model()
    users = {}
    for username, (first, last, superuser) in USERS.items():
        user, _ = User.objects.get_or_create(username=username)
        user.first_name, user.last_name = first, last
        user.email = f"{username}@example.com"
        user.is_staff = user.is_superuser = superuser
        user.is_active = True
        user.set_password(settings.DEMO_PASSWORD)
        user.save()
        users[username] = user
    return users


def _teams(users: dict[str, Any]) -> list[Team]:
    teams = []
    for name, (slug, members, supervisors) in TEAMS.items():
        team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
        team.members.add(*[users[u] for u in members])
        team.supervisors.add(*[users[u] for u in supervisors])
        teams.append(team)
    return teams


def demo_number(port: int) -> WhatsAppNumber:
    """The demo number: WHATSAPP_* settings where set, demo values otherwise; on the
    sandbox's stand-in Graph API unless WHATSAPP_API_BASE is set."""
    values = dict(DEMO_NUMBER)
    for key, setting in (
        ("phone_number_id", settings.WHATSAPP_PHONE_NUMBER_ID),
        ("business_account_id", settings.WHATSAPP_BUSINESS_ACCOUNT_ID),
        ("display_phone_number", settings.WHATSAPP_DISPLAY_PHONE_NUMBER),
        ("access_token", settings.WHATSAPP_ACCESS_TOKEN),
        ("app_secret", settings.WHATSAPP_APP_SECRET),
        ("verify_token", settings.WHATSAPP_VERIFY_TOKEN),
    ):
        values[key] = setting or values[key]
    on_sandbox = not settings.WHATSAPP_API_BASE_IS_SET
    return number_upsert(**values, api_base=sandbox_graph_base(port) if on_sandbox else "", is_sandbox=on_sandbox)


def demo_number_find() -> WhatsAppNumber | None:
    """The demo support line once loaded, else the default number (None when neither)."""
    return (
        WhatsAppNumber.objects.filter(phone_number_id=DEMO_NUMBER["phone_number_id"]).first()
        or WhatsAppNumber.objects.filter(is_default=True).first()
    )


def load(stdout: TextIO, *, port: int | None = None) -> None:
    if not (settings.DEBUG or settings.SANDBOX_ENABLED):
        raise DemoRefused("Demo data is loaded only with DEBUG=1 or SANDBOX_ENABLED=1.")
    port = port or settings.PORT
    with transaction.atomic():
        users = _users()
        teams = _teams(users)
        number = demo_number(port)
        token, _ = Token.objects.get_or_create(user=users["admin"])
    if number.is_sandbox:
        template_ensure_sample(business_account_id=number.business_account_id)

    base = f"http://127.0.0.1:{port}"
    stdout.write(f"Demo users (password for all: {settings.DEMO_PASSWORD!r}):\n")
    for username, (first, _last, superuser) in USERS.items():
        member_of = [t.name for t in teams if username in TEAMS[t.name][1]]
        supervises = [t.name for t in teams if username in TEAMS[t.name][2]]
        role = "superuser" if superuser else (
            f"supervises {', '.join(supervises)}" if supervises else f"agent in {', '.join(member_of)}"
        )
        stdout.write(f"  {username:<11} {first:<6} {role}\n")
    stdout.write(f"Demo number: {number} (+{number.display_phone_number}), Graph API at {number.graph_base}\n")
    stdout.write(f"API token of admin: {token.key}  (header `Authorization: Token {token.key}`)\n")
    stdout.write(
        f"Open {base}/sandbox/ (the customer's phone), {base}/desk/ (agents), "
        f"{base}/admin/ and {base}/api/docs/\n"
    )

    for name in DEMO_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.load(stdout)
