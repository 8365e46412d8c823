"""The mixture: which curated documents go into the token stream, how many times, in which order.

LLaMA-1 mixes by *token budget*: each source gets a share of the output tokens (Table 1) and is
repeated (epochs > 1) or subsampled (epochs < 1) to reach it. For one source with ``T`` available
tokens and a target of ``t`` tokens the plan takes ``floor(t / T)`` whole passes over all its
documents, then a *partial pass*: its documents in a seeded order, whole ones while they fit, and the
first one that does not fit cut to the exact remainder (``take_tokens``). So every non-empty source
lands on its target up to rounding, whatever the document sizes (a single 150k-token book included).

The chicken-and-egg: the budget is in tokens of a tokenizer that is trained on the mixture. The order
is: a plan from *estimated* counts (characters / 4, or a user-supplied tokenizer's exact counts) ->
the tokenizer, trained on a sample of the planned documents -> ``token_shards`` encodes the documents
and re-runs this same planner with the *exact* counts (same seeds: the whole passes and the seeded
order of the partial pass stay; only where the partial pass stops moves) and reports the achieved
shares.

Held-out documents (``HeldOutPolicy``): per source with at least ``min_docs`` documents, whole documents
in a seeded order are taken out of the pool *before* planning, until they hold ``fraction`` of the
source's tokens or ``min_tokens``, whichever is more, and at most ``max_docs_fraction`` of its documents.
A document larger than that target is passed over, so one long article (or one odd language) cannot
be a source's whole validation set. They are written once into the validation split, so no held-out
text is ever trained on (not even a repeat). The choice uses character counts (estimated tokens), so the
estimated plan and the exact re-plan hold out the same documents.

Two seeds: ``sample_seed`` decides *which* documents (partial passes, held-out split); ``seed`` decides
only the *order* of the rows. Changing ``seed`` therefore permutes the same multiset of documents.

A source that is missing, empty or not in the shares table is reported in ``warnings`` and the budget
is spread over the sources that have documents (their targets renormalised). ``share_report`` puts each
source's achieved share next to its target in the shares table itself (the recipe's LLaMA-1 numbers
unless configured), so a missing source stays visible with its full target: never a silent skew.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.inputs import sha256_file
from corpus.recipe import (CHARS_PER_TOKEN_ESTIMATE, VAL_FRACTION, VAL_MAX_DOCS_FRACTION, VAL_MIN_SOURCE_DOCS,
                           VAL_MIN_TOKENS)
from corpus.storage import Layout, Location, file_size, iter_batches, read_schema, write_table_atomic
from corpus.fingerprints import FINGERPRINT_KEY

PLAN_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # "train" or "val"
        pa.field("epoch", pa.int32(), nullable=False),  # 0-based pass over the source
        pa.field("order", pa.int64(), nullable=False),  # position in its split's token stream
        pa.field("take_tokens", pa.int64(), nullable=False),  # -1 = the whole document, else a prefix
        pa.field("tokens", pa.int64(), nullable=False),  # tokens this row contributes, EOS included
    ]
)
EOS_COST = 1  # every document is followed by one EOS token, counted in its source's share


@dataclass
class DocPool:
    """The documents of one source: ids, token counts (document tokens, without the EOS) and characters."""

    ids: np.ndarray  # of str, sorted
    tokens: np.ndarray  # int64
    chars: np.ndarray  # int64; picks the held-out documents the same way whatever the token counts

    @classmethod
    def from_lists(cls, ids: Iterable[str], tokens: Iterable[int], chars: Iterable[int]) -> "DocPool":
        ids_a = np.asarray(list(ids), dtype=object)
        tok_a = np.asarray(list(tokens), dtype=np.int64)
        chars_a = np.asarray(list(chars), dtype=np.int64)
        order = np.argsort(ids_a.astype(str), kind="stable")
        return cls(ids_a[order], tok_a[order], chars_a[order])

    def with_tokens(self, tokens: np.ndarray) -> "DocPool":
        return DocPool(self.ids, np.asarray(tokens, dtype=np.int64), self.chars)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class HeldOutPolicy:
    """How many whole documents of each source are held out for validation (see the module docstring)."""

    fraction: float = VAL_FRACTION  # of the source's tokens; 0 = no held-out split at all
    min_tokens: int = VAL_MIN_TOKENS
    max_docs_fraction: float = VAL_MAX_DOCS_FRACTION
    min_docs: int = VAL_MIN_SOURCE_DOCS

    def mask(self, pool: DocPool, source: str, sample_seed: int) -> np.ndarray:
        """Which of the pool's documents are held out."""
        n = len(pool)
        held = np.zeros(n, dtype=bool)
        if n < self.min_docs or self.fraction <= 0:
            return held
        est = pool.chars / CHARS_PER_TOKEN_ESTIMATE
        target = max(self.fraction * float(est.sum()), float(self.min_tokens))
        order = _rng(sample_seed, source, "val").permutation(n)
        fitting = order[est[order] <= target]
        order = fitting if len(fitting) else order[:1]
        reached = int(np.searchsorted(np.cumsum(est[order]), target, side="left")) + 1
        held[order[:min(reached, len(order), max(1, int(n * self.max_docs_fraction)))]] = True
        return held


@dataclass
class SourceReport:
    source: str
    docs: int = 0
    val_docs: int = 0
    available_tokens: int = 0  # train pool, EOS included
    target_share: float = 0.0  # renormalised, fraction
    target_tokens: int = 0
    planned_tokens: int = 0
    full_passes: int = 0

    @property
    def epochs(self) -> float:
        return self.planned_tokens / self.available_tokens if self.available_tokens else 0.0


@dataclass
class MixturePlan:
    table: pa.Table  # PLAN_SCHEMA, train rows by order then val rows by order
    sources: dict[str, SourceReport]
    warnings: list[str] = field(default_factory=list)
    total_tokens: int = 0
    count_method: str = ""

    def achieved_shares(self) -> dict[str, float]:
        total = sum(r.planned_tokens for r in self.sources.values())
        return {s: (r.planned_tokens / total if total else 0.0) for s, r in self.sources.items()}

    def report(self) -> dict:
        achieved = self.achieved_shares()
        return {
            "total_tokens_target": self.total_tokens,
            "count_method": self.count_method,
            "warnings": self.warnings,
            "sources": {
                s: dict(docs=r.docs, val_docs=r.val_docs, available_tokens=r.available_tokens,
                        target_share_pct=round(100 * r.target_share, 4), target_tokens=r.target_tokens,
                        planned_tokens=r.planned_tokens, achieved_share_pct=round(100 * achieved[s], 4),
                        epochs=round(r.epochs, 4), full_passes=r.full_passes)
                for s, r in self.sources.items()
            },
        }


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator keyed by the seed and stable names (never Python's salted ``hash``)."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def plan_mixture(pools: Mapping[str, DocPool], shares_pct: Mapping[str, float], total_tokens: int,
                 seed: int, sample_seed: int, heldout: HeldOutPolicy = HeldOutPolicy(),
                 count_method: str = "") -> MixturePlan:
    """Plan the rows (document, epoch, order) that give each source its share of ``total_tokens``."""
    warnings: list[str] = []
    for s in sorted(set(pools) - set(shares_pct)):
        warnings.append(f"source {s!r} has documents but no share in the mixture table: left out")
    live: dict[str, DocPool] = {}
    for s in shares_pct:
        pool = pools.get(s)
        if shares_pct[s] <= 0:
            continue
        if pool is None or len(pool) == 0 or int(pool.tokens.sum()) == 0:
            warnings.append(f"source {s!r} (target {shares_pct[s]}%) is missing or empty: shares renormalised without it")
            continue
        live[s] = pool
    weight_sum = sum(shares_pct[s] for s in live)
    reports: dict[str, SourceReport] = {}
    train_parts: list[dict[str, np.ndarray]] = []
    val_parts: list[dict[str, np.ndarray]] = []
    for s, pool in live.items():
        n = len(pool)
        is_val = heldout.mask(pool, s, sample_seed)
        if is_val.any():
            val_parts.append(_rows(pool.ids[is_val], s, 0, np.full(is_val.sum(), -1), pool.tokens[is_val] + EOS_COST))
        ids, toks = pool.ids[~is_val], pool.tokens[~is_val]
        cost = toks + EOS_COST
        available = int(cost.sum())
        share = shares_pct[s] / weight_sum
        target = int(round(total_tokens * share))
        full = target // available
        rest = target - full * available
        for e in range(full):
            train_parts.append(_rows(ids, s, e, np.full(len(ids), -1), cost))
        # the partial pass: a seeded order, whole documents while they fit, the next one cut to size
        perm = _rng(sample_seed, s, "partial").permutation(len(ids))
        cum = np.cumsum(cost[perm])
        whole = int(np.searchsorted(cum, rest, side="right"))
        sel = list(perm[:whole])
        take = [-1] * whole
        sel_cost = list(cost[perm[:whole]])
        left = rest - (int(cum[whole - 1]) if whole else 0)
        if whole < len(perm) and left > EOS_COST:
            sel.append(perm[whole])
            take.append(left - EOS_COST)
            sel_cost.append(left)
        if sel:
            idx = np.asarray(sel, dtype=np.int64)
            train_parts.append(_rows(ids[idx], s, full, np.asarray(take), np.asarray(sel_cost)))
        planned = full * available + int(sum(sel_cost))
        reports[s] = SourceReport(s, docs=n, val_docs=int(is_val.sum()), available_tokens=available,
                                  target_share=share, target_tokens=target, planned_tokens=planned, full_passes=full)
    for s in shares_pct:
        if s not in reports and shares_pct[s] > 0:
            reports[s] = SourceReport(s)
    table = pa.concat_tables([_ordered(train_parts, "train", seed), _ordered(val_parts, "val", seed)])
    return MixturePlan(table, reports, warnings, total_tokens, count_method)


def _rows(ids, source, epoch, take, tokens) -> dict[str, np.ndarray]:
    return dict(id=np.asarray(ids, dtype=object), source=np.full(len(ids), source, dtype=object),
                epoch=np.full(len(ids), epoch, dtype=np.int32), take_tokens=np.asarray(take, dtype=np.int64),
                tokens=np.asarray(tokens, dtype=np.int64))


def _ordered(parts: list[dict[str, np.ndarray]], split: str, seed: int) -> pa.Table:
    if not parts:
        return PLAN_SCHEMA.empty_table()
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    # a canonical order first (source, epoch, id), so the shuffle depends on the seed alone
    key = np.lexsort((cols["id"].astype(str), cols["epoch"], cols["source"].astype(str)))
    cols = {k: v[key] for k, v in cols.items()}
    perm = _rng(seed, split, "order").permutation(len(key))
    cols = {k: v[perm] for k, v in cols.items()}
    return pa.table(dict(id=cols["id"].tolist(), source=cols["source"].tolist(), split=[split] * len(perm),
                         epoch=cols["epoch"], order=np.arange(len(perm), dtype=np.int64),
                         take_tokens=cols["take_tokens"], tokens=cols["tokens"]), schema=PLAN_SCHEMA)


def share_report(shares_pct: Mapping[str, float], tokens: Mapping[str, int]) -> dict[str, dict]:
    """Per source of the shares table (and any other source with tokens), in table order:

    ``target_pct`` its share of the whole table (never renormalised: CommonCrawl keeps its 67% when it
    is missing), ``planned_pct`` what the budget gives it, spread over the sources that have tokens,
    ``achieved_pct`` and ``tokens`` what it got, and ``missing`` when it has a target and no tokens.
    """
    positive = {s: float(v) for s, v in shares_pct.items() if v > 0}
    table = sum(positive.values())
    present = sum(v for s, v in positive.items() if tokens.get(s, 0) > 0)
    total = sum(tokens.values())
    names = [*positive, *sorted(s for s, n in tokens.items() if n > 0 and s not in positive)]
    return {s: dict(target_pct=round(100 * positive.get(s, 0.0) / table, 4) if table else 0.0,
                    planned_pct=round(100 * positive[s] / present, 4) if s in positive and tokens.get(s, 0) > 0 else 0.0,
                    achieved_pct=round(100 * tokens.get(s, 0) / total, 4) if total else 0.0,
                    tokens=int(tokens.get(s, 0)), missing=s in positive and tokens.get(s, 0) == 0)
            for s in names}


def shares_markdown(shares: Mapping[str, dict], report: dict, missing: Mapping[str, str]) -> str:
    """The UI's share table: each source's achieved share (``share_report`` rows) next to the shares table's
    own target (the recipe's LLaMA-1 numbers unless configured) and the budget's target over the sources
    present, with the plan's ``report`` docs and epochs; a missing source keeps its row, and why it is
    missing (``missing``: source -> why) is listed below."""
    rows = ["| source | docs | target % (table) | planned % (present sources) | achieved % | epochs | tokens |",
            "|---|---|---|---|---|---|---|"]
    for s, r in shares.items():
        planned = report["sources"].get(s, {})
        rows.append(f"| {s} | {planned.get('docs', 0):,} | {r['target_pct']:.2f} | {r['planned_pct']:.2f} | "
                    f"{r['achieved_pct']:.2f} | {planned.get('epochs', 0.0):.3f} | {r['tokens']:,} |")
    if missing:
        rows += ["", "**Missing** (a target, no tokens):", *(f"- {why}" for _, why in sorted(missing.items()))]
    return "\n".join(rows)


# --- reading the curated corpus -------------------------------------------------------------------

def curated_parts(layout: Layout, stage: str) -> dict[str, list[Location]]:
    """Curated Parquet parts per source under ``docs/<stage>/`` (local or on the data root's store)."""
    return {source: layout.docs_parts(stage, source) for source in layout.sources("docs", stage)}


def catalog_snapshot(parts: Mapping[str, list[Location]], data: Location) -> str:
    """A hash over the curated parts: path relative to the data root, size and the fingerprint in each part's footer."""
    h = hashlib.sha256()
    for source in sorted(parts):
        for p in parts[source]:
            meta = read_schema(p).metadata or {}
            h.update(f"{p.relative_to(data).as_posix()}\0{file_size(p)}\0".encode())
            h.update(meta.get(FINGERPRINT_KEY, b"") + b"\n")
    return h.hexdigest()[:32]


def estimate_pools(parts: Mapping[str, list[Location]],
                   count: Callable[[list[str]], list[int]] | None = None) -> dict[str, DocPool]:
    """Token counts per document, streamed: ``count`` (a tokenizer) if given, else chars / 4."""
    pools: dict[str, DocPool] = {}
    for source, paths in parts.items():
        ids: list[str] = []
        toks: list[np.ndarray] = []
        chars: list[np.ndarray] = []
        for batch in iter_batches(paths, columns=["id", "text"]):
            ids.extend(batch.column("id").to_pylist())
            chars.append(pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False).astype(np.int64))
            if count is None:
                toks.append(np.ceil(chars[-1] / CHARS_PER_TOKEN_ESTIMATE).astype(np.int64))
            else:
                toks.append(np.asarray(count(batch.column("text").to_pylist()), dtype=np.int64))
        pools[source] = DocPool.from_lists(ids, np.concatenate(toks) if toks else [],
                                           np.concatenate(chars) if chars else [])
    return pools


def write_plan(plan: MixturePlan, path: Path, extra_meta: Mapping[str, str] | None = None) -> str:
    """Write the plan Parquet atomically; returns the sha256 of the written file."""
    meta = {b"mixture.report": _json(plan.report()).encode()}
    for k, v in (extra_meta or {}).items():
        meta[f"mixture.{k}".encode()] = v.encode()
    write_table_atomic(path, plan.table, metadata=meta)
    return sha256_file(path)


def read_plan_meta(path: Path) -> dict[str, str]:
    meta = pq.read_schema(path).metadata or {}
    return {k.decode().removeprefix("mixture."): v.decode() for k, v in meta.items() if k.startswith(b"mixture.")}


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def plan_path(layout: Layout) -> Path:
    return layout.work / "mixture" / "plan.parquet"


def exact_plan_path(layout: Layout) -> Path:
    """The re-plan with the trained tokenizer's exact counts (``token_shards`` writes it)."""
    return layout.work / "mixture" / "plan_exact.parquet"


def plan_report(path: Path) -> dict:
    """The ``MixturePlan.report()`` a written plan carries in its footer."""
    return json.loads(read_plan_meta(path)["report"])


def make_plan(layout: Layout, stage: str, shares_pct: Mapping[str, float], total_tokens: int, seed: int,
              sample_seed: int, heldout: HeldOutPolicy = HeldOutPolicy(),
              count: Callable[[list[str]], list[int]] | None = None, count_name: str = "") -> tuple[MixturePlan, dict]:
    """Plan the mixture over the curated parts and write ``work/mixture/plan.parquet``.

    Counts are estimates (characters / 4) unless ``count`` (a tokenizer's batch counter) is given.
    Returns the plan and a summary (settings, catalog snapshot, plan path and sha256).
    """
    parts = curated_parts(layout, stage)
    snapshot = catalog_snapshot(parts, layout.data)
    method = f"exact ({count_name})" if count else f"estimate (characters / {CHARS_PER_TOKEN_ESTIMATE:g})"
    pools = estimate_pools(parts, count)
    plan = plan_mixture(pools, shares_pct, total_tokens, seed, sample_seed, heldout, method)
    settings = dict(shares_pct=dict(shares_pct), total_tokens=total_tokens, seed=seed, sample_seed=sample_seed,
                    heldout=asdict(heldout), stage=stage)
    path = plan_path(layout)
    sha = write_plan(plan, path, {"settings": _json(settings), "catalog_snapshot": snapshot})
    return plan, dict(settings=settings, catalog_snapshot=snapshot, path=str(path), sha256=sha)
