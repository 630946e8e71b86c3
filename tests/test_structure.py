"""Structure rules the code must keep: a conversation's status is written only by the
lifecycle module (conversations/services/conversations.py), which sets every field a transition
implies, records its event and publishes once. Anything else that writes a status would
bypass all three.

The scan reads the project's Python source (not tests, not migrations) with `ast` and
flags, outside the lifecycle module:
- `<obj>.status = Conversation.Status.X` (or an alias such as `Status = Conversation.Status`);
- `.update(status=…)` with a conversation status, and `setattr(<obj>, "status", …)`;
- creating a conversation with a status: `Conversation(…, status=…)`,
  `Conversation.objects.create/get_or_create/update_or_create/bulk_create(…)` and
  `defaults={"status": …}`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.sources import project_sources

ROOT = Path(__file__).resolve().parent.parent
OWNER = Path("conversations/services/conversations.py")
# Allowed elsewhere, with the reason. Keep this short: a new entry needs a reason as good.
ALLOWED = {
    # The routing benchmark's baseline is a bare one-row status update (what routing is
    # measured against), and it resets its own rows between phases.
    Path("bench/routing.py"): "benchmark baseline and reset",
    # A campaign batch's new conversations, started together exactly as conversation_start
    # starts one (status `bot`, the `created` entry and events); the lifecycle stays in
    # conversations.py for every transition after that.
    Path("conversations/services/conversations_open.py"): "a campaign batch's conversations started together",
}
# Values only a conversation's status takes ("queued" is also a campaign recipient's).
CONVERSATION_ONLY = {"bot", "assigned", "resolved"}
ALL_STATUSES = CONVERSATION_ONLY | {"queued"}
WRITES = {"create", "get_or_create", "update_or_create", "bulk_create", "update"}


def _status_aliases(tree: ast.Module) -> set[str]:
    """Names bound to `Conversation.Status` (`Status = Conversation.Status`)."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and ast.unparse(node.value).endswith("Conversation.Status"):
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return aliases


def _is_status_ref(node: ast.AST, aliases: set[str]) -> bool:
    """`Conversation.Status.X` or `<alias>.X`, anywhere inside `node`."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Attribute):
            owner = ast.unparse(inner.value)
            if owner.endswith("Conversation.Status") or owner in aliases:
                return True
    return False


def _literal_status(node: ast.AST, *, about_conversation: bool) -> bool:
    values = ALL_STATUSES if about_conversation else CONVERSATION_ONLY
    return any(isinstance(inner, ast.Constant) and inner.value in values for inner in ast.walk(node))


def _chain_root(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def status_writes(source: str) -> list[tuple[int, str]]:
    """(line, code) of every conversation status write in `source`."""
    tree = ast.parse(source)
    aliases = _status_aliases(tree)
    found: list[tuple[int, str]] = []

    def flag(node: ast.AST) -> None:
        found.append((getattr(node, "lineno", 0), ast.unparse(node).splitlines()[0][:120]))

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if value is not None and any(
                isinstance(t, ast.Attribute) and t.attr == "status" for t in targets
            ) and _is_status_ref(value, aliases):
                flag(node)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "setattr" and len(node.args) == 3:
            field = node.args[1]
            if isinstance(field, ast.Constant) and field.value == "status" and (
                _is_status_ref(node.args[2], aliases) or _literal_status(node.args[2], about_conversation=False)
            ):
                flag(node)
            continue
        about_conversation = _chain_root(func) == "Conversation" or name == "Conversation"
        creating = name == "Conversation" or (about_conversation and name in WRITES - {"update"})
        if name not in WRITES and name != "Conversation":
            continue
        for keyword in node.keywords:
            if keyword.arg == "status":
                if creating or _is_status_ref(keyword.value, aliases) or _literal_status(
                    keyword.value, about_conversation=about_conversation
                ):
                    flag(node)
            elif keyword.arg in ("defaults", "create_defaults") and isinstance(keyword.value, ast.Dict):
                for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "status" and (
                        about_conversation or _is_status_ref(value, aliases)
                    ):
                        flag(node)
    return found


def test_the_scan_catches_every_kind_of_status_write():
    source = '''
from conversations.models import Conversation
Status = Conversation.Status

def writes(conversation, qs, contact):
    conversation.status = Conversation.Status.RESOLVED
    conversation.status = Status.QUEUED if contact else Status.BOT
    qs.update(status=Conversation.Status.ASSIGNED, assignee=None)
    qs.update(status="resolved")
    Conversation.objects.filter(pk=1).update(status="queued")
    Conversation.objects.create(contact=contact, status=Conversation.Status.BOT)
    Conversation.objects.bulk_create([Conversation(contact=contact, status="bot")])
    Conversation.objects.update_or_create(contact=contact, defaults={"status": "queued"})
    setattr(conversation, "status", Status.RESOLVED)
'''
    assert {line for line, _ in status_writes(source)} == set(range(6, 15))


def test_the_scan_leaves_reads_and_other_statuses_alone():
    source = '''
from conversations.models import Conversation, Message
from notifications.models import CampaignRecipient

def reads(conversation, qs, message):
    Conversation.objects.filter(status=Conversation.Status.QUEUED).exclude(status="resolved")
    if conversation.status == Conversation.Status.BOT:
        message.status = Message.Status.FAILED
    Message.objects.filter(pk=1).update(status=Message.Status.READ)
    CampaignRecipient.objects.filter(pk=1).update(status="queued")
    Conversation.objects.create(contact=None)
    payload = {"status": conversation.status}
'''
    assert status_writes(source) == []


def test_the_lifecycle_module_is_the_one_that_writes_statuses():
    sources = project_sources()
    assert ROOT / OWNER in sources and ROOT / "agents" / "services" / "routing.py" in sources
    assert not any("tests" in p.relative_to(ROOT).parts or "migrations" in p.relative_to(ROOT).parts for p in sources)
    assert status_writes((ROOT / OWNER).read_text()), "the scan no longer recognises the lifecycle's own writes"
    for path in ALLOWED:  # an allowance nobody needs any more goes
        assert status_writes((ROOT / path).read_text()), f"{path} no longer writes statuses: drop it from ALLOWED"


def test_no_conversation_status_is_written_outside_the_lifecycle():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {code}"
        for path in project_sources()
        if path.relative_to(ROOT) != OWNER and path.relative_to(ROOT) not in ALLOWED
        for line, code in status_writes(path.read_text())
    ]
    assert offenders == [], "write conversation statuses through conversations.services.conversations:\n" + "\n".join(offenders)
