"""commoncrawl reader: not written yet (issue 3); the source reads as empty until then."""
from pathlib import Path


def discover_inputs(root: Path) -> list[Path]:
    return []


def read_documents(path: Path, name: str, **options):
    raise NotImplementedError("the commoncrawl reader is not written yet")
