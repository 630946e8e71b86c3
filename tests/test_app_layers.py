"""The apps are layered: each app's code imports only the apps below it.

    config  <  conversations  <  agents  <  bots  <  notifications

`config` is the floor (settings helpers, refusals, task names, realtime) except its
composition root (urls, asgi, websocket routing, settings, celery), which wires every app
together and so sits on top. Models are one data layer: Django resolves relations between
apps' models in both directions (a conversation's team, a handoff's conversation), so any
module may import any app's `models`; above the models the imports go one way.

No import goes up the layers. KNOWN_UPWARD lists any that must (with what it needs from the
higher app); it is empty, the test fails on any new one and on an entry that is no longer
needed. The way out for a new one is the one `conversations.inbound_hooks` took: the lower app
offers a registry and the higher app registers in its `AppConfig.ready()`, or the shared piece
moves down where both can import it (as the SLA clocks, queue events and agent events did).
"""

from __future__ import annotations

import pytest

from tests.test_import_graph import MODULES, TREES, _module_level, imported_modules

LAYERS = ("config", "conversations", "agents", "bots", "notifications")
COMPOSITION_ROOT = {
    "config.urls",
    "config.asgi",
    "config.websocket_urls",
    "config.settings",
    "config.test_settings",
    "config.celery",
}

KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def _app(module: str) -> str:
    return module.split(".")[0]


def _is_models(module: str) -> bool:
    parts = module.split(".")
    return len(parts) >= 2 and parts[1] == "models"


def _imports_across(*, upward: bool) -> set[tuple[str, str]]:
    rank = {app: index for index, app in enumerate(LAYERS)}
    found = set()
    for module, tree in TREES.items():
        if module in COMPOSITION_ROOT or _app(module) not in rank:
            continue
        for node in _module_level(tree.body):
            for target in imported_modules(module, node):
                if _is_models(target) or _app(target) not in rank or _app(target) == _app(module):
                    continue
                if (rank[_app(target)] > rank[_app(module)]) == upward:
                    found.add((module, target))
    return found


def upward_imports() -> set[tuple[str, str]]:
    """(importer, imported) for every module-level import of a higher layer's code."""
    return _imports_across(upward=True)


def downward_imports() -> set[tuple[str, str]]:
    """(importer, imported) for every module-level import of a lower layer's code."""
    return _imports_across(upward=False)


def test_the_scan_sees_imports_across_layers():
    # Real imports down the layers exist, so a scan that saw nothing would fail here; none goes up.
    assert {"agents.services.routing", "bots.services.handoff"} <= set(MODULES)
    assert downward_imports() >= {
        ("agents.services.routing", "conversations.services.conversations"),
        ("bots.services.handoff", "agents.services.presence"),
    }
    assert upward_imports() == set()


@pytest.mark.parametrize("module", ["config.websocket_urls"])
def test_the_composition_root_is_exempt_and_does_reach_the_apps(module):
    targets = set().union(*(imported_modules(module, node) for node in _module_level(TREES[module].body)))
    assert any(_app(target) in LAYERS[1:] for target in targets)
    assert not any(importer == module for importer, _target in upward_imports())


def test_no_new_import_goes_up_the_layers():
    new = sorted(upward_imports() - set(KNOWN_UPWARD))
    assert not new, (
        f"imports of a higher app's code (layers: {' < '.join(LAYERS)}; models are exempt). Move the "
        "shared piece down or let the higher app register a hook:\n"
        + "\n".join(f"{a} -> {b}" for a, b in new)
    )


def test_every_known_upward_import_is_still_there():
    stale = sorted(set(KNOWN_UPWARD) - upward_imports())
    assert not stale, f"remove from KNOWN_UPWARD, the import is gone: {stale}"
    assert all(reason.strip() for reason in KNOWN_UPWARD.values())
