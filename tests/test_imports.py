"""The package's import graph shows its layers: no circle between modules and no import from a lower
layer to a higher one. Every import counts, also those inside functions and under TYPE_CHECKING."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tenantctl"
# Lowest first. Top-level modules (errors, paths, config, context, logs, textproc, fileio) are the foundation.
LAYERS = ["foundation", "storage", "models", "ingestion", "retrieval", "tools", "answering", "operations",
          "serving", "cli"]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _parse(path: Path) -> ast.Module:
    """The file's syntax tree. CPython 3.11 keeps the AST builder's recursion depth in state shared by
    threads, so a parse racing another thread's (a server thread a previous test left running) may fail
    with a spurious "AST constructor recursion depth mismatch" SystemError (python/cpython#106905):
    parse again then."""
    source = path.read_text(encoding="utf-8")
    for _ in range(4):
        try:
            return ast.parse(source)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc):
                raise
    return ast.parse(source)


def _layer(module: str) -> str:
    if module == "tenantctl.__main__":  # `python -m tenantctl` runs the CLI
        return "cli"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "foundation"


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `module` imports (a package import counts as its __init__)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and name.startswith("tenantctl"):
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    # A package's __init__ importing its own submodules (the CLI joining its commands) is assembly, not a
    # dependency of the layer: the edge that matters is the submodule's own imports.
    return {m: {i for i in _imports(m, p, known) if not i.startswith(m + ".")} for m, p in modules.items()}


def _upward(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imports in sorted(graph.items()):
        mine = LAYERS.index(_layer(module))
        for imported in sorted(imports - {"tenantctl"}):
            if LAYERS.index(_layer(imported)) > mine:
                found.append(f"{module} ({_layer(module)}) imports {imported} ({_layer(imported)})")
    return found


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, set()) - {"tenantctl"}):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return circles


def test_no_upward_import_between_layers():
    assert _upward(_graph()) == []


def test_no_import_circle():
    assert _circles(_graph()) == []


def test_the_checks_see_a_circle_and_an_upward_import():
    """The checks can fail: on the real graph, a lazy import inside a function is an edge too."""
    graph = _graph()
    assert "tenantctl.storage.index" in graph["tenantctl.storage.tenants"]  # imported inside describe()
    graph["tenantctl.storage.index"] = graph["tenantctl.storage.index"] | {"tenantctl.storage.tenants",
                                                                          "tenantctl.cli._common"}
    assert ["tenantctl.storage.index", "tenantctl.storage.tenants", "tenantctl.storage.index"] in _circles(graph)
    assert _upward(graph) == ["tenantctl.storage.index (storage) imports tenantctl.cli._common (cli)"]


def test_every_subpackage_is_a_known_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages <= set(LAYERS), subpackages - set(LAYERS)
    assert len(subpackages - {"cli"}) >= 4


def test_no_function_over_80_lines():
    long = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80:
                long.add(f"{path.relative_to(PACKAGE.parent).as_posix()}::{node.name}")
    assert long == set(), long
