"""Config validation helpers (pure, no Dagster): turn a pydantic ``ValidationError`` into one message
that says what is wrong and where, and check explicit input paths before any work starts."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import pydantic

_URL = re.compile(r"https?://")
_GLOB_CHARS = "*?["


def describe(exc: pydantic.ValidationError, where: str) -> str:
    """``<where>: <field>: <message> (got <value>)``, one line per error."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "(config)"
        got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        lines.append(f"{where}: {field}: {err.get('msg', 'invalid')}{got}")
    return "\n".join(lines)


def missing_local_inputs(specs: Iterable[str]) -> list[str]:
    """Explicit local paths (not URLs, not globs) that do not exist."""
    return [s for s in specs if not _URL.match(s) and not any(c in s for c in _GLOB_CHARS) and not Path(s).exists()]
