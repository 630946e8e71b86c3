"""Structure rule: who may see or act on conversations and contacts is decided in one module,
conversations/access.py. Pages, the API, services and the desk socket ask it; none keeps
its own copy of the rule (two copies had drifted apart before: two `user_is_supervisor`,
one counting the supervisor group and one not).

The scan reads the project's Python source (not tests, not migrations) with `ast`. Outside
conversations/access.py it looks at every function or method whose name states an access
rule, leading underscores ignored: `user_is_*`, `user_may_*`, `may_*`, `can_*`,
`*_visible_to`. Such a function is a copy of the rule, and flagged, when
- it has the name of a function the access module defines (but for a few general
  helper names, `GENERIC`), or
- it decides by itself: it reads the database (`.objects`, `.filter`, `.exists`, a
  membership manager such as `.members`, `.supervisors`, `.groups`, `.participants`), or
  uses nothing imported from conversations.access.
A thin function built on the access module (`roles_for(user).supervisor` for a page's
audience; `user_is_admin(user) or user.has_perm(…)` for a model permission) is asking it,
and passes. Names that merely contain "may" or "can" (`canned_response_may_manage`, about
canned responses) are not rules on conversations or contacts and are not looked at.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support.sources import project_sources

ROOT = Path(__file__).resolve().parent.parent
OWNER = Path("conversations/access.py")
RULE_NAME = re.compile(r"^(user_is_|user_may_|may_|can_)|_visible_to$")
DATABASE_READS = {
    "objects", "filter", "exclude", "exists", "get", "first", "count", "values", "values_list", "raw",
    "members", "supervisors", "groups", "participants", "supervised_teams", "teams", "through", "user_set",
}
# Names of the owner's helpers too general to mark a copy.
GENERIC = {"require", "refusal", "session_expiry"}


def owner_names() -> set[str]:
    tree = ast.parse((ROOT / OWNER).read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return {name for name in defined if not name.startswith("_")} - GENERIC


def _from_access(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names imported from conversations.access, and the names the module itself is bound to."""
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module in ("conversations.access", "access") and (module != "access" or node.level == 1):
                names.update(alias.asname or alias.name for alias in node.names)
            elif module in ("conversations", "") and node.level in (0, 1):
                modules.update(alias.asname or alias.name for alias in node.names if alias.name == "access")
    return names, modules


def _asks_access(function: ast.AST, names: set[str], modules: set[str]) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id in names:
            return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            return True
    return False


def _reads_database(function: ast.AST) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr in DATABASE_READS for node in ast.walk(function))


def rule_copies(source: str, reserved: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every function in `source` that is a copy of an access rule."""
    tree = ast.parse(source)
    names, modules = _from_access(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        copy = node.name in reserved
        decides_itself = _reads_database(node) or not _asks_access(node, names, modules)
        if copy or (RULE_NAME.search(node.name.lstrip("_")) and decides_itself):
            found.append((node.lineno, node.name))
    return found


def test_the_scan_flags_copies_and_leaves_thin_askers_alone():
    source = '''
from agents.models import Team
from conversations.access import roles_for, user_is_admin
from conversations import access

def user_is_supervisor(user):
    return user_is_admin(user) or Team.supervisors.through.objects.filter(user_id=user.pk).exists()
def _user_is_member(user, team):
    return team.members.filter(pk=user.pk).exists()
def user_may_reply(user, conversation):
    return conversation.assignee_id in (None, user.pk)
def contacts_visible_to(user):
    return access.contacts_visible_to(user)
def roles_for_everyone(user): ...
def roles_for(user): ...
class Consumer:
    async def _may_forward(self, event):
        return event.get("team") in self.team_ids
def outer():
    def can_see(): ...
def user_may_see_reports(user):
    return roles_for(user).supervisor
def user_may_record(user):
    return user_is_admin(user) or user.has_perm("app.record")
def may_watch(user, conversation):
    return access.may_act(access.roles_for(user), access.conversation_shape(conversation), "watch")
def canned_response_may_manage(user, response):
    return response.owner_id == user.pk
def cannot_fail(): ...
def visible_to_nobody(): ...
def user_isolation(): ...
'''
    found = {name for _, name in rule_copies(source, {"roles_for", "contacts_visible_to"})}
    assert found == {"user_is_supervisor", "_user_is_member", "user_may_reply", "contacts_visible_to", "roles_for",
                     "_may_forward", "can_see"}


def test_the_scan_reads_the_whole_project_and_knows_the_owners_rules():
    sources = project_sources()
    assert ROOT / OWNER in sources and ROOT / "conversations" / "consumers.py" in sources
    assert not any({"tests", "migrations"} & set(p.relative_to(ROOT).parts) for p in sources)
    names = owner_names()
    assert {"roles_for", "user_is_admin", "may_see", "oversees", "allowed_actions", "conversations_visible_to",
            "contacts_visible_to", "conversation_for_user", "contact_for_user", "socket_access"} <= names
    # The owner itself would be flagged wherever else it stood.
    assert {"user_is_admin", "may_see", "conversations_visible_to"} <= {
        name for _, name in rule_copies((ROOT / OWNER).read_text(), set())
    }


def test_no_access_rule_is_decided_outside_the_access_module():
    reserved = owner_names()
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in project_sources()
        if path.relative_to(ROOT) != OWNER
        for line, name in rule_copies(path.read_text(), reserved)
    ]
    assert offenders == [], "decide access in conversations/access.py and ask it:\n" + "\n".join(offenders)
