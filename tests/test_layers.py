"""The layers hold: the pure modules import no Dagster, and every batch filter has the one shape."""
import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the pure layers: corpus/ whole, and the logic modules beside the asset modules of quality_models/ and training/
PURE = sorted(p for p in (REPO / "corpus").rglob("*.py")) + sorted(
    p for folder in ("quality_models", "training") for p in (REPO / folder).glob("*.py")
    if p.name != "assets.py" and not p.name.endswith("_assets.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_pure_modules_import_no_dagster():
    assert len(PURE) > 60
    offenders = [str(p.relative_to(REPO)) for p in PURE if {"dagster", "assets", "pipelines"} & _imports(p)]
    assert offenders == []


def test_importing_every_pure_module_loads_no_dagster():
    modules = [".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__") for p in PURE
               if p.name != "__main__.py"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_batch_filter_is_a_document_filter():
    """No closure factory returns a BatchFilter, and every class under corpus/filters and corpus/dedup that is
    called with a record batch derives from ``DocumentFilter`` (the base builds the dropped rows and annotations)."""
    factories, classes, filters = [], [], []
    for path in sorted((REPO / "corpus").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'name', '')}"
            if isinstance(node, ast.FunctionDef) and node.returns is not None and "BatchFilter" in ast.unparse(node.returns):
                factories.append(where)
            if isinstance(node, ast.ClassDef) and path.parent.name in ("filters", "dedup"):
                bases = {ast.unparse(b) for b in node.bases}
                if "DocumentFilter" in bases:
                    filters.append(where)
                elif node.name != "DocumentFilter" and any(
                        isinstance(n, ast.FunctionDef) and n.name == "__call__" and "RecordBatch" in ast.unparse(n.args)
                        for n in node.body):
                    classes.append(where)
    assert factories == [] and classes == []
    assert len(filters) >= 6, filters


# the Dagster layers: assets, checks and their wiring modules
WIRING = sorted((REPO / "assets").glob("*.py")) + sorted(
    p for folder in ("quality_models", "training") for p in (REPO / folder).glob("*.py")
    if p.name == "assets.py" or p.name.endswith("_assets.py"))
ASSET_DECORATORS = {"asset", "multi_asset", "asset_check", "multi_asset_check"}
MAX_ASSET_BODY_LINES = 25  # an asset wires config, resources and metadata around a call into the pure layer


def _asset_bodies(path: Path):
    """(name, lines of the body after its docstring) of each function decorated as a Dagster asset or check."""
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef):
            continue
        names = {(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}
        if not {getattr(n, "attr", getattr(n, "id", None)) for n in names} & ASSET_DECORATORS:
            continue
        body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) else node.body
        yield node.name, (node.end_lineno - body[0].lineno + 1) if body else 0


def test_asset_bodies_only_wire():
    bodies = {f"{p.relative_to(REPO)}:{name}": n for p in WIRING for name, n in _asset_bodies(p)}
    assert len(bodies) >= 30, sorted(bodies)  # 34 today: every asset and check, factories included
    assert {k: n for k, n in bodies.items() if n > MAX_ASSET_BODY_LINES} == {}
