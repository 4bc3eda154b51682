"""The architecture as a test: every import between the project's packages points down the layers.

    gateway.values, .clock, .errors, .version          the vocabulary (import nothing of ours but each other)
    gateway.config, gateway.doors                      settings; the seam the compatibility doors plug into
    gateway.rules, gateway.representations             pure rules and the JSON shapes of resources
    gateway.store, gateway.modem, gateway.upstream     persistence; the modem driver; upstream providers as drivers
    gateway.core                                       the service, the pool, webhook delivery, queue policy
    web, hardware                                      the HTTP doors and pages; LEDs, button, power relay
    gateway.appliance                                  the process: composition root, CLI, server, doctor

A package may import its own layer's modules and any lower layer's; `fake_modem` imports nothing of ours. Imports
under `if TYPE_CHECKING:` are annotations, not arrows, and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [
    {"gateway.values", "gateway.clock", "gateway.errors", "gateway.version"},
    {"gateway.config", "gateway.doors"},
    {"gateway.rules", "gateway.representations"},
    {"gateway.store", "gateway.modem", "gateway.upstream"},
    {"gateway.core"},
    {"web", "hardware"},
    {"gateway.appliance", "gateway.__main__"},
]
# Arrows between packages of one layer that are part of the design (the rest of a layer stays apart).
SAME_LAYER = {("gateway.errors", "gateway.values"), ("gateway.__main__", "gateway.appliance"),
              ("gateway.upstream", "gateway.modem")}  # an upstream provider is driven through the modem's seam
# web may read the store's row types (what the service returns) and figures; it never holds the Store itself.
ALLOWED = {("web", "gateway.store.models"), ("web", "gateway.store.stats")}
# Downward, but still wrong: the LEDs and the button know modem states (gateway.values), not how they are stored.
FORBIDDEN = {("hardware", "gateway.store")}


def package_of(module: str) -> str:
    for group in LAYERS:
        for package in sorted(group, key=len, reverse=True):
            if module == package or module.startswith(package + "."):
                return package
    return module.split(".")[0]


def rank(package: str) -> int | None:
    return next((i for i, group in enumerate(LAYERS) if package in group), None)


def runtime_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    annotations_only = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If)
                        and "TYPE_CHECKING" in ast.unparse(node.test) for sub in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name.split(".")[0] in ("gateway", "web", "hardware", "fake_modem")]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def wrong_way_arrows(root: Path = ROOT) -> list[str]:
    """Every import, in the checkout at `root`, that points up the layers or across a layer."""
    wrong = []
    for top in ("gateway", "web", "hardware", "fake_modem"):
        for path in sorted((root / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            source = module_name(path, root)
            here = package_of(source)
            for target in runtime_imports(path):
                there = package_of(target)
                if (here, there) in FORBIDDEN:
                    wrong.append(f"{source} -> {target}")
                    continue
                if there == here or (here, there) in SAME_LAYER or any(
                        here == a and (target == b or target.startswith(b + ".")) for a, b in ALLOWED):
                    continue
                if here == "fake_modem" or there == "fake_modem":
                    if here == "gateway.appliance":  # the demo runs emulated modems
                        continue
                    wrong.append(f"{source} -> {target}")
                    continue
                a, b = rank(here), rank(there)
                if a is None or b is None or b >= a:
                    wrong.append(f"{source} -> {target}")
    return wrong


def test_every_import_points_down_the_layers():
    assert wrong_way_arrows() == []
