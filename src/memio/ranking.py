"""Search modes and the one keyword ranking and fusion every provider uses.

A provider contributes what its backend does best: the vector ranking (`semantic`) and, for
`keyword`, the in-scope documents that share a word with the query, found with its text index
(SQLite FTS5, PostgreSQL tsvector, or a scan in memory). The BM25 scores and the fusion are
computed here, from those candidates, so the same query ranks the same on every provider: the
backends' own scorers differ (FTS5 and ts_rank count over the whole table, not over the scope a
search runs in, and ts_rank is not BM25).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Container, Sequence
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol, TypeVar, get_args

import numpy as np

from memio.errors import InvalidRequestError

SearchMode = Literal["hybrid", "semantic", "keyword"]
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
DEFAULT_SEARCH_MODE: SearchMode = "hybrid"
HISTORY_SEARCH_MODE: SearchMode = "keyword"  # history search matched words before modes existed

K1, B = 1.2, 0.75  # BM25's usual constants
# Each ranking contributes its best max(limit, this) candidates to the fusion. Not tuned: depth 20
# raised recall@10 on each LoCoMo dev conversation but lowered recall@20 on two of the three.
FUSION_DEPTH = 50
# A word index that finds its candidates as texts hands over at most this many, those its backend
# ranks best by its own word weighting (SQLite FTS5's bm25, PostgreSQL's ts_rank) when more match
# (embedded chroma's term counts in memory give exact hits, with no cap), so a query
# of common words costs what this many cost, not the whole scope (bench wrk: 2,500 candidates a
# query at 10,000 documents). 500 kept LoCoMo dev's keyword and hybrid recall as 1,000 did (300
# lost 0.9 point of keyword recall@5) and took a hybrid search at 10,000 documents from 14.4 to
# 11.8 ms in process.
KEYWORD_CANDIDATES = 500
# Light stemming: these endings are cut from a word that keeps at least 3 letters, so "painted",
# "painting" and "paints" are one term, and a stem is always a prefix of its word: a backend finds
# the candidates of a stem by prefix ("paint*"). LoCoMo dev: keyword recall@10 +3 points.
SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "ly", "s")
MIN_STEM = 3

# Words too common to tell memories apart; without them a question's filler ("what did ... do")
# matches every stored turn.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[^\W_]+")

_D = TypeVar("_D")


class Ranked(Protocol):
    """A searchable record (Document, Fact): what the ranking reads and rescores."""

    id: str
    content: str
    score: float | None

    def model_copy(self, *, update: dict[str, Any]) -> Any: ...


_R = TypeVar("_R", bound=Ranked)


class Candidate(NamedTuple):
    """A keyword candidate known only by id and text (from a word index beside the store); the
    provider loads the full record of those that rank (`search(hydrate=...)`). A tuple: a search
    makes thousands of them."""

    id: str
    content: str
    score: float | None = None

    def model_copy(self, *, update: dict[str, Any]) -> Candidate:
        return self._replace(**update)


def check_mode(mode: Any) -> SearchMode:
    if mode not in SEARCH_MODES:
        raise InvalidRequestError(
            f"search_mode must be one of {', '.join(SEARCH_MODES)}", field="search_mode"
        )
    return mode


def terms(text: str) -> list[str]:
    """Lower-cased words of letters and digits, stopwords left out, stemmed (query and documents
    alike). A provider's word index finds the records holding a word that starts with a term."""
    return [stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS]


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=16_384)
def _term_counts(text: str) -> tuple[Counter[str], int]:
    """Term frequencies of a stored text and its length in terms, cached: the same texts are
    scored query after query (never mutated by callers)."""
    counts = Counter(terms(text))
    return counts, sum(counts.values())


def query_terms(query: str) -> list[str]:
    """The distinct terms of a query, in order."""
    return list(dict.fromkeys(terms(query)))


class TermHits(NamedTuple):
    """What BM25 reads of the in-scope records holding a query term: the records (full ones or
    Candidates), each one's count of every query term (records x terms) and its length in terms,
    and how many records the scope holds. A provider with term counts at hand (a word index in
    memory) gives these directly; `term_hits` counts them from texts for the others."""

    records: Sequence[Any]
    counts: np.ndarray
    lengths: np.ndarray
    in_scope: int

    def without(self, ids: Container[str], *, in_scope: int) -> TermHits:
        """These hits less the records `ids` names, over a scope of `in_scope` records."""
        kept = [i for i, record in enumerate(self.records) if record.id not in ids]
        return TermHits(
            [self.records[i] for i in kept], self.counts[kept], self.lengths[kept], in_scope
        )


def term_hits(query: Sequence[str], candidates: Sequence[Any], in_scope: int) -> TermHits:
    """The hits among `candidates` (records with `content`: every in-scope record holding a word
    that starts with a query term, or a superset) of the distinct terms `query`; those holding
    none of the terms themselves are left out."""
    records, rows, lengths = [], [], []
    for record in candidates:
        counts, length = _term_counts(record.content)
        hits = [counts.get(term, 0) for term in query]
        if any(hits):
            records.append(record)
            rows.append(hits)
            lengths.append(length)
    return TermHits(
        records,
        np.asarray(rows, dtype=np.float64).reshape(len(records), len(query)),
        np.asarray(lengths, dtype=np.float64),
        in_scope,
    )


def bm25(hits: TermHits, *, top: int | None = None) -> list[tuple[Any, float]]:
    """Okapi BM25 of `hits`' records, best first, ties by id (the `top` best only, when given);
    scores mapped into [0, 1) by s / (1 + s). Document lengths are averaged over the records
    that hold a term, so the scores depend only on what matched, never on how a backend stores
    the rest."""
    records, tf, length = hits.records, hits.counts, hits.lengths
    if not len(records):
        return []
    total = max(hits.in_scope, len(records))
    df = np.count_nonzero(tf, axis=0)
    idf = np.log(1 + (total - df + 0.5) / (df + 0.5))
    norm = K1 * (1 - B + B * length / length.mean())
    raw = (idf * tf * (K1 + 1) / (tf + norm[:, None])).sum(axis=1)
    scores = raw / (1 + raw)
    chosen: Sequence[int] = range(len(records))
    if top is not None and top < len(records):  # those scoring at least the top-th best
        chosen = np.flatnonzero(scores >= np.partition(scores, -top)[-top]).tolist()
    best = sorted(chosen, key=lambda i: (-scores[i], records[i].id))[:top]
    return [(records[i], float(scores[i])) for i in best]


def fuse(
    rankings: Sequence[Sequence[tuple[_D, float]]], *, key: Callable[[_D], Any], limit: int
) -> list[tuple[_D, float]]:
    """Relative score fusion: each ranking's scores are rescaled to [0, 1] over the candidates it
    contributed (its best 1, its last 0), and a document scores the mean of its rescaled scores
    over the rankings that found anything (0 where a ranking did not hold it). Ties keep the
    earlier ranking's order. Chosen over reciprocal-rank fusion on the quality benchmark (recall@10
    65.5% against 55.1% with RRF's usual k = 60), see docs/benchmarks.md."""
    found = [ranking for ranking in rankings if ranking]
    fused: dict[Any, list[Any]] = {}
    for ranking in found:
        high, low = ranking[0][1], ranking[-1][1]
        for doc, score in ranking:
            scaled = (score - low) / (high - low) if high > low else 1.0
            entry = fused.setdefault(key(doc), [doc, 0.0, len(fused)])
            entry[1] += scaled / len(found)
    ordered = sorted(fused.values(), key=lambda entry: (-entry[1], entry[2]))
    return [(doc, min(1.0, max(0.0, score))) for doc, score, _ in ordered[:limit]]


async def search(
    mode: Any,
    *,
    query: str,
    limit: int,
    semantic: Callable[[int], Awaitable[list[_R]]],
    keyword: Callable[[list[str]], Awaitable[tuple[list[Any], int] | TermHits]],
    hydrate: Callable[[list[Any]], Awaitable[dict[str, _R]]] | None = None,
    threshold: float | None = None,
) -> list[_R]:
    """One search in `mode`, given a provider's vector search (`semantic(n)`: the n best, scored)
    and keyword candidates (`keyword(terms)`: the in-scope records holding a word that starts
    with a term, or a superset, and how many records the scope holds; or their TermHits); scope
    and filters are the provider's, applied before any ranking. `hydrate` turns the ranked
    candidates (Candidate included) into full records by id; one it cannot load (deleted
    meanwhile) is left out. Returns records rescored for the mode; `threshold` drops those
    scoring below it (in the mode's scores: see docs/api.md)."""
    mode = check_mode(mode)
    if mode == "semantic":
        ranked = [(record, record.score or 0.0) for record in await semantic(limit)]
        return await _loaded(ranked, hydrate, threshold)
    words = query_terms(query)
    depth = limit if mode == "keyword" else max(limit, FUSION_DEPTH)

    async def by_keyword() -> list[tuple[_R, float]]:
        if not words:
            return []
        found = await keyword(words)
        # thousands of candidates take milliseconds of CPU: off the event loop
        return await asyncio.to_thread(_by_words, words, found, depth)

    if mode == "keyword":
        ranked = await by_keyword()
    else:
        by_meaning, by_words = await asyncio.gather(semantic(depth), by_keyword())
        scored = [(record, record.score or 0.0) for record in by_meaning]
        ranked = fuse([scored, by_words], key=_id, limit=limit)
    return await _loaded(ranked, hydrate, threshold)


async def _loaded(
    ranked: list[tuple[Any, float]],
    hydrate: Callable[[list[Any]], Awaitable[dict[str, _R]]] | None,
    threshold: float | None,
) -> list[_R]:
    """The ranked records in full (`hydrate`, when given), scored, those below `threshold` left
    out."""
    if hydrate is not None:
        loaded = await hydrate([record for record, _ in ranked])
        ranked = [(loaded[record.id], score) for record, score in ranked if record.id in loaded]
    return [
        record.model_copy(update={"score": score})
        for record, score in ranked
        if _passes(score, threshold)
    ]


def _passes(score: float | None, threshold: float | None) -> bool:
    return threshold is None or (score or 0.0) >= threshold


def _by_words(
    words: list[str], found: tuple[list[Any], int] | TermHits, top: int
) -> list[tuple[Any, float]]:
    hits = found if isinstance(found, TermHits) else term_hits(words, *found)
    return bm25(hits, top=top)


def _id(record: Ranked) -> str:
    return record.id
