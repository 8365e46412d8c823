"""Code versions of the assets, so the UI's unsynced marks follow code changes.

An asset's ``code_version`` is ``code_fingerprint`` (the hash the parts carry in their footers) of the
files of the code that computes it: the module that defines its function, the project modules the
function refers to (a reader module bound by a factory, a filter module, ...), and the ``corpus``
modules each of those imports from. A change to any of them changes the version; a change elsewhere
does not.
"""
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable

import dagster as dg

from corpus.part_runners import code_fingerprint

PROJECT_PACKAGES = ("corpus", "assets", "quality_models", "training", "pipelines")


def _owner(value: object) -> ModuleType | None:
    """The module a value is, or the module that defines it (a function, a class)."""
    if isinstance(value, ModuleType):
        return value
    return sys.modules.get(getattr(value, "__module__", "") or "")


def _is_project(module: ModuleType | None, packages: tuple[str, ...] = PROJECT_PACKAGES) -> bool:
    return (module is not None and module.__name__.split(".")[0] in packages
            and getattr(module, "__file__", None) is not None)


def corpus_modules_used(module: ModuleType) -> set[ModuleType]:
    """``module`` and every ``corpus`` module its namespace refers to (imported modules, functions, classes)."""
    used = {module}
    for value in vars(module).values():
        owner = _owner(value)
        if _is_project(owner, ("corpus",)) and owner.__name__ != "corpus":
            used.add(owner)
    return used


def compute_modules(fn) -> set[ModuleType]:
    """The modules of the code that ``fn`` runs: its own, the project modules it refers to, and their
    ``corpus`` imports. A decorated function is looked at through its decorators (``__wrapped__``)."""
    fn = inspect.unwrap(fn)
    refs = inspect.getclosurevars(fn)
    direct = {sys.modules[fn.__module__]}
    direct |= {o for v in [*refs.nonlocals.values(), *refs.globals.values()] if _is_project(o := _owner(v))}
    return set().union(*(corpus_modules_used(m) for m in direct))


def asset_code_version(assets_def: dg.AssetsDefinition) -> str:
    files = sorted({Path(m.__file__) for m in compute_modules(assets_def.op.compute_fn.decorated_fn)}, key=str)
    return code_fingerprint(*files)


def with_code_versions(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """Every executable asset with its code version (one that sets its own keeps it)."""
    out = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and a.is_executable:
            version = asset_code_version(a)
            a = a.map_asset_specs(lambda spec, v=version: spec if spec.code_version else spec.replace_attributes(code_version=v))
        out.append(a)
    return out
