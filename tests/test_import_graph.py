"""The app graph goes one way: no import cycle between the project's modules, and no
import hidden inside a function to dodge one.

The graph is built with `ast` from the source of the project's packages (PACKAGES), from
module-level imports only: statements at the top of a module or class body, including
inside `if`/`try` blocks, but not under `if TYPE_CHECKING:` (never run). `from a.b import c`
is an edge to the module `a.b.c` when that is a module, else to `a.b`. Any strongly
connected group of modules fails the first test, which names one cycle in it.

The rule for imports inside functions (the second test): a function imports a project
module only where the import cannot sit at the top of the module, which is
- inside `AppConfig.ready()` (`<app>/apps.py`): the app registry is not ready when
  apps.py is imported, and `ready()` is where an app registers its signals and hooks;
- inside a management command (`<app>/management/commands/`), which loads what it runs;
- in a migration (`<app>/migrations/`), frozen as written;
- or an entry in ALLOWED with its reason. Keep it short: a new entry needs a reason as
  good. An import that would close a cycle is never a reason; move the shared piece where
  both sides can import it instead (config/, or a lower module of the app), or let the
  lower app call the higher one through a registry (conversations/inbound_hooks.py).

Shared pieces today: config/ (task names, tasking, realtime, refusals), conversations
(models, events, services, sending/delivery/outcomes/statuses, inbound_hooks), and the
apps that build on conversations (agents, bots, notifications).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "conversations", "agents", "bots", "notifications")

# (importing module, imported module) -> why the import sits inside a function.
ALLOWED: dict[tuple[str, str], str] = {}


def project_modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of PACKAGES."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if any(part.startswith(".") or part == "__pycache__" for part in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = project_modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _known(name: str) -> str | None:
    """`name` or its nearest enclosing module that is one of the project's."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported_modules(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The project modules an import statement in `module` loads (empty for others)."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            target = _known(alias.name)
            if target:
                found.add(target)
        return found
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    for alias in node.names:
        full = f"{base}.{alias.name}"
        target = full if full in MODULES else _known(base)
        if target:
            found.add(target)
    return found


def _module_level(body: list[ast.stmt]):
    """Import statements run when the module is imported (not in functions)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                yield from _module_level(node.body)
                yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _module_level(node.body)
            for handler in node.handlers:
                yield from _module_level(handler.body)
            yield from _module_level(node.orelse)
            yield from _module_level(node.finalbody)
        elif isinstance(node, ast.ClassDef | ast.With):
            yield from _module_level(node.body)


def _trees() -> dict[str, ast.Module]:
    return {module: ast.parse(path.read_text(), filename=str(path)) for module, path in MODULES.items()}


TREES = _trees()


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, tree in TREES.items():
        edges: set[str] = set()
        for node in _module_level(tree.body):
            edges |= imported_modules(module, node)
        edges.discard(module)
        graph[module] = edges
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of two or more modules that import each other, directly or not (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(root: str) -> None:
        # Iterative, so a deep graph cannot hit the recursion limit.
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def one_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """A path start -> ... -> start inside `group` (breadth first, so a shortest one)."""
    members = set(group)
    start = group[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return group


def function_local_imports() -> list[tuple[str, str, int, str]]:
    """(module, function, line, imported project module) for every import in a function."""
    found = []
    for module, tree in TREES.items():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for target in sorted(imported_modules(module, node)):
                        found.append((module, function.name, node.lineno, target))
    return sorted(set(found))


def _allowed_by_rule(module: str, function: str) -> bool:
    parts = module.split(".")
    if "migrations" in parts or (len(parts) >= 3 and parts[-3:-1] == ["management", "commands"]):
        return True
    return parts[-1] == "apps" and function == "ready"


def test_the_graph_sees_the_projects_imports():
    graph = import_graph()
    # A sample of real edges, so a parser that found nothing would fail here.
    assert "conversations.services.message_delivery" in graph["conversations.services.message_send"]
    assert "conversations.inbound_hooks" in graph["conversations.services.message_receive"]
    assert "conversations.services.message_status" in graph["conversations.services.message_delivery"]
    assert "conversations.services.message_send" in graph["agents.services.csat"]
    assert "conversations.models" in graph["notifications.services.consent_keywords"]
    assert "notifications.services.campaigns" in graph["notifications.services.number_health"]
    assert set(graph) >= {"config.task_names", "bots.engine", "agents.apps"}


def test_cycle_detection_reports_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    groups = strongly_connected(graph)
    assert groups == [["a", "b", "c"]]
    assert one_cycle(graph, groups[0]) == ["a", "b", "c", "a"]


def test_no_import_cycle_between_project_modules():
    graph = import_graph()
    cycles = [" -> ".join(one_cycle(graph, group)) for group in strongly_connected(graph)]
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(cycles)


def test_function_local_imports_are_only_the_documented_ones():
    unexplained = [
        f"{module}.{function} (line {line}) imports {target}"
        for module, function, line, target in function_local_imports()
        if not _allowed_by_rule(module, function) and (module, target) not in ALLOWED
    ]
    assert not unexplained, (
        "imports inside functions that are not in ALLOWED (move them to the top of the module; "
        "if that makes a cycle, move the shared piece instead):\n" + "\n".join(unexplained)
    )


def test_every_allowed_entry_is_still_needed():
    used = {(module, target) for module, _function, _line, target in function_local_imports()}
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"ALLOWED entries with no such import any more: {stale}"
    assert all(reason.strip() for reason in ALLOWED.values())
