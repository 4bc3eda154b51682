"""Architecture figures: the import graph between the project's packages and the size of its largest parts.

Wrong-way arrows are judged by the layers of tests/test_layers.py, so another checkout's are only meaningful
when its modules sit in those layers.

    .venv/bin/python benchmarks/architecture.py [ROOT]

Prints the modules, the import arrows between them, the arrows that cross a package boundary, those that point
up the layers (wrong-way; tests/test_layers.py requires none), and the classes with the most public methods and
the longest modules. ROOT (default: this checkout) may be another checkout, to compare before and after.
"""

from __future__ import annotations

import ast
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_layers import module_name, package_of, runtime_imports, wrong_way_arrows  # noqa: E402

PACKAGES = ("gateway", "web", "hardware", "fake_modem")


def modules(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for top in PACKAGES for path in (root / top).rglob("*.py")
            if "migrations" not in path.parts}


def arrows(found: dict[str, Path]) -> set[tuple[str, str]]:
    edges = set()
    for name, path in found.items():
        for target in runtime_imports(path):
            if target in found and target != name:
                edges.add((name, target))
    return edges


def main() -> None:
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    found = modules(root)
    edges = arrows(found)
    cross = [(a, b) for a, b in edges if package_of(a) != package_of(b)]
    wrong = wrong_way_arrows(root)
    print(f"{'modules':32} {len(found):>6}")
    print(f"{'import arrows':32} {len(edges):>6}")
    print(f"{'cross-package arrows':32} {len(cross):>6}")
    print(f"{'wrong-way arrows':32} {len(wrong):>6}")
    for arrow in wrong:
        print(f"    {arrow}")
    by_package = collections.Counter((package_of(a), package_of(b)) for a, b in cross)
    print("cross-package arrows by pair:")
    for (a, b), count in sorted(by_package.items()):
        print(f"    {a:22} -> {b:28} {count:>3}")
    classes = []
    for name, path in found.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                public = [f for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")]
                classes.append((len(public), f"{name}.{node.name}"))
    print("largest classes (public methods):")
    for count, name in sorted(classes, reverse=True)[:8]:
        print(f"    {name:60} {count:>3}")
    print("longest modules (lines):")
    for lines, name in sorted(((len(p.read_text().splitlines()), n) for n, p in found.items()), reverse=True)[:8]:
        print(f"    {name:60} {lines:>4}")


if __name__ == "__main__":
    main()
