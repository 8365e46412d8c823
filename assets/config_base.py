"""The base of every asset Config: a bad value fails the step at once, naming the field and the value,
before any work starts and without retries (a retry policy would otherwise repeat a config error).

A Config that mirrors settings defined elsewhere (a dataclass, a reader's keyword arguments) is built from
them (``config_class``), with the same names, types and defaults, so the two cannot drift apart."""

import dataclasses
import inspect
import typing
from typing import Any, Callable, Mapping

import dagster as dg
import pydantic

from corpus.validation import describe


class ValidatedConfig(dg.Config):
    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _fail_without_retries(cls, data, handler):
        try:
            return handler(data)
        except pydantic.ValidationError as exc:
            raise dg.Failure(description=describe(exc, f"{cls.__name__} (run config)"), allow_retries=False) from exc


Fields = dict[str, tuple[Any, Any]]  # name -> (type, default)


def dataclass_fields(cls: type, names: tuple[str, ...] = ()) -> Fields:
    """Every field of a dataclass (or those in ``names``) with its resolved type and its default (a
    ``default_factory``'s value)."""
    hints = typing.get_type_hints(cls)
    out: Fields = {}
    for f in dataclasses.fields(cls):
        if names and f.name not in names:
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has no default; a run config field needs one")
        out[f.name] = (hints[f.name], f.default_factory() if f.default is dataclasses.MISSING else f.default)
    return out


def listed(fields: Fields) -> Fields:
    """``fields`` as Dagster config takes them: a ``tuple[X, ...]`` becomes ``list[X]`` (config has no tuples)."""
    def config_type(t: Any, default: Any) -> tuple[Any, Any]:
        args = typing.get_args(t)
        if typing.get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis:
            return list[args[0]], list(default)
        return t, default
    return {n: config_type(t, d) for n, (t, d) in fields.items()}


def dataclass_from(cls: type, config: dg.Config, **given: Any) -> Any:
    """The dataclass ``cls`` with the config's value of each of its fields that the config has (a list back
    to a tuple where the dataclass holds a tuple), ``given`` for the fields no config holds (a model, a
    source); the others keep the dataclass's default."""
    hints = typing.get_type_hints(cls)
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls) if f.name in type(config).model_fields}
    return cls(**{n: tuple(v) if typing.get_origin(hints[n]) is tuple else v for n, v in values.items()}, **given)


def keyword_fields(fn: Callable, skip: tuple[str, ...] = ()) -> Fields:
    """Every argument of ``fn`` that has a default (minus ``skip``), with its annotated type."""
    hints = typing.get_type_hints(fn)
    return {p.name: (hints[p.name], p.default) for p in inspect.signature(fn).parameters.values()
            if p.default is not inspect.Parameter.empty and p.name not in skip}


def config_class(name: str, module: str, fields: Fields, base: type[dg.Config] = dg.Config, doc: str | None = None,
                 bounds: Mapping[str, Mapping[str, Any]] = {}) -> type[dg.Config]:
    """A ``base`` subclass named ``name`` in ``module``, with one field per entry of ``fields`` (pydantic
    constraints from ``bounds``)."""
    declared = {n: (t, pydantic.Field(default=d, **bounds.get(n, {}))) for n, (t, d) in fields.items()}
    return pydantic.create_model(name, __base__=base, __doc__=doc, __module__=module, **declared)
