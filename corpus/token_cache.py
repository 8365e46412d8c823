"""The token cache: the curated parts encoded once, one document range (a part's needed documents) at a
time (``encode_range``: ``encode_batch`` over record batches, the Rust side runs the batch on all cores; a
range is a unit a worker can take), merged in range order, because a document repeated over several epochs
is encoded once and then gathered in plan order from a memmap; and the exact re-plan (``exact_plan``): with
the exact counts the planner runs again (same seeds) so the achieved shares are exact, not estimated.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import mixture, model_cache
from corpus.executors import Executor, ExecutionSummary, InProcessExecutor, WORKER_LOG
from corpus.storage import iter_batches
from corpus.tokenizer import enable_parallelism

@dataclass(frozen=True)
class EncodeRange:
    """A document range to encode: the needed documents (``ids``) of one curated part, in its row order."""

    source: str
    part: Path
    ids: pa.Array

def encode_range(tok, doc_range: EncodeRange, out: Path) -> tuple[list[str], list[int]]:
    """Encode one document range into ``out`` (flat uint32 ids, the documents one after the other); returns
    the encoded ids in row order and their lengths. Pure per range: a worker can run it anywhere."""
    ids: list[str] = []
    lengths: list[int] = []
    with open(out, "wb") as fh:
        for batch in iter_batches([doc_range.part], columns=["id", "text"]):
            batch = batch.filter(pc.is_in(batch.column("id"), value_set=doc_range.ids))
            if batch.num_rows == 0:
                continue
            encs = tok.encode_batch(batch.column("text").to_pylist(), add_special_tokens=False)
            lengths += [len(e.ids) for e in encs]
            ids += batch.column("id").to_pylist()
            fh.write(np.fromiter((t for e in encs for t in e.ids), dtype=np.uint32,
                                 count=sum(len(e.ids) for e in encs)).tobytes())
    return ids, lengths

def encode_range_file(tokenizer_path: str, job: tuple[EncodeRange, Path]) -> tuple[list[str], list[int]]:
    """``encode_range`` as an executor task: the tokenizer loaded once per worker process, by its file."""
    enable_parallelism()
    return encode_range(model_cache.tokenizer(tokenizer_path), *job)


class TokenCache:
    """Encoded documents, appended to one flat uint32 file; an in-memory index id -> (start, length).

    Documents are encoded per range (``encode_range``: the needed documents of one part) and the ranges
    appended in range order (source, then part order), so the cache, and every shard gathered from it,
    is the same bytes whichever worker encoded which range: each range is one ``executor`` task (default:
    in this process) writing its range file into ``folder`` (shared storage under Ray)."""

    def __init__(self, folder: Path, tokenizer_path: Path, executor: Executor | None = None, log=WORKER_LOG,
                 summary: ExecutionSummary | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "tokens.u32"
        self.path.touch()
        self.index: dict[str, tuple[int, int]] = {}
        self.size = 0
        self.ranges_encoded = 0
        self.tokenizer_path, self.executor, self.log, self.summary = str(tokenizer_path), executor or InProcessExecutor(), log, summary

    def ranges(self, parts: Mapping[str, list[Path]], needed: Mapping[str, set[str]]) -> list[EncodeRange]:
        """The document ranges holding every needed document not yet cached, in merge order: each part's
        own needed ids (its id column streamed), so a task carries its range's ids, not the source's."""
        out = []
        for source in sorted(needed):
            todo = pa.array(sorted(i for i in needed[source] if i not in self.index), pa.string())
            for part in parts.get(source, []) if len(todo) else ():
                mine = [b.column("id").filter(pc.is_in(b.column("id"), value_set=todo))
                        for b in iter_batches([part], columns=["id"])]
                ids = pa.concat_arrays([pa.array([], pa.string()), *mine])
                if len(ids):
                    out.append(EncodeRange(source, part, ids))
        return out

    def encode(self, parts: Mapping[str, list[Path]], needed: Mapping[str, set[str]]) -> int:
        """Encode every needed document not yet cached, one task per range, merged in range order; returns
        how many were encoded."""
        ranges = self.ranges(parts, needed)
        jobs = [(r, self.folder / f"range-{self.ranges_encoded + k:06d}.u32") for k, r in enumerate(ranges)]
        self.ranges_encoded += len(jobs)
        done = 0
        results = self.executor.map(partial(encode_range_file, self.tokenizer_path), jobs, self.log,
                                    "token cache ranges", self.summary)
        for (ids, lengths), (_, range_file) in zip(results, jobs):
            done += self.append(ids, lengths, range_file)
        return done

    def append(self, ids: list[str], lengths: list[int], range_file: Path) -> int:
        """Merge one encoded range (``encode_range``'s result) at the end of the cache; the range file goes."""
        with open(self.path, "ab") as out, open(range_file, "rb") as src:
            shutil.copyfileobj(src, out)
        range_file.unlink()
        for i, n in zip(ids, lengths):
            self.index[i] = (self.size, n)
            self.size += n
        return len(ids)

    def counts(self) -> dict[str, int]:
        return {i: n for i, (_, n) in self.index.items()}

    def tokens(self) -> np.ndarray:
        if self.size == 0:
            return np.zeros(0, dtype=np.uint32)
        return np.memmap(self.path, dtype=np.uint32, mode="r", shape=(self.size,))

def exact_plan(parts, estimated: Mapping[str, mixture.DocPool], cache: TokenCache,
               shares_pct, total_tokens, seed, sample_seed, heldout: mixture.HeldOutPolicy,
               max_rounds: int = 6) -> tuple[mixture.MixturePlan, int]:
    """Re-plan with exact token counts: encode what the plan uses, re-plan, until nothing new is needed.

    Counts of documents not yet encoded stay estimates; a re-plan that reaches further into a partial
    pass triggers one more (small) encoding round. Returns the plan and the number of rounds.
    """
    for rounds in range(1, max_rounds + 1):
        counts = cache.counts()
        pools = {s: p.with_tokens([counts.get(i, t) for i, t in zip(p.ids, p.tokens)]) for s, p in estimated.items()}
        plan = mixture.plan_mixture(pools, shares_pct, total_tokens, seed, sample_seed, heldout,
                                    count_method="exact" if rounds > 1 else "estimate")
        needed = {}
        for s, i in zip(plan.table.column("source").to_pylist(), plan.table.column("id").to_pylist()):
            if i not in cache.index:
                needed.setdefault(s, set()).add(i)
        if not needed:
            plan.count_method = "exact"
            return plan, rounds
        cache.encode(parts, needed)
    raise RuntimeError(f"mixture plan did not settle on exact token counts after {max_rounds} rounds")
