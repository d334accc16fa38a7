"""The lexical leg: BM25 over the chunks' analysed text, with bounded work per query.

Schema and formulas: service/migrations/0020_lexical_search.sql. Each chunk carries its BM25
document-side weights as a sparsevec; the query becomes the sparsevec of its terms' IDF, so one
inner product per candidate is the chunk's BM25 score (tf saturation, IDF, length normalisation).

Candidates come from the GIN index on the analysed text, for the query's rarest terms first while
their summed document frequencies fit the postings budget (`postings_for`): a chunk in scope
matching any of those terms is a candidate and is scored on every query term. Common terms still
count in the score, they just don't pull in their thousands of postings, so the work per query
stays bounded however many chunks match. When even the rarest term exceeds the budget (every
word is common), the candidates are the chunks holding each of the fewest rarest terms whose
co-occurrence fits it, at most `budget` of them. That count is estimated as if the terms were
independent (df1 * df2 * ... / chunks^(k-1)). Requiring every term instead missed the chunks that
lack one common word but score highest on the rest: on paraphrased questions at 100k chunks,
recall@10 against exhaustive BM25 went from 0.84 to 0.89 for admins
(loadtest/results/retrieval-eval.md).

A small scope (one the vector leg searches exactly, see service/search/plan.py) is scored whole
instead (`scope_candidates`): reading its few thousand rows and taking one inner product each is
exact and cheaper than reading the postings a narrow scope needs (at 100k chunks, a 2.6k-row
scope: 2.5 ms against 14 ms, loadtest/results/retrieval-eval.md).

GIN returns candidates unranked, so the budget reads some matching chunks, not the best ones.
Ranking them inside an index instead (HNSW over the BM25 sparsevecs, or an impact-ordered
postings table) was measured and did no better than a larger budget at equal cost
(`python -m devtools.evals.lexical_alternatives`).
"""

from __future__ import annotations

from psycopg import sql

from service.access.scope import AccessScope
from service.search.plan import VectorPlan

# Chunks read per query (see the module docstring).
DEFAULT_BUDGET = 2000
# Postings read per query at most (index entries: far cheaper than the chunks they point to).
MAX_POSTINGS = 1_000_000


def postings_for(budget: int, scope_rows: int, total_rows: int) -> int:
    """How many postings to read so about `budget` of them fall in the caller's scope.

    The scope filter is applied to the chunks the postings point to, so a scope holding a share
    f of the chunks keeps about f of them: reading budget / f postings yields about `budget`
    chunks to score, however narrow the scope. A small scope thereby takes every matching term,
    and its ranking is exhaustive within the scope.
    """
    if scope_rows <= 0 or total_rows <= 0 or scope_rows >= total_rows:
        return budget
    return min(MAX_POSTINGS, -(-budget * total_rows // scope_rows))


# CTEs `terms` (the query's lexemes, ids and dfs) and `weights` (its IDF sparsevec, param qt).
QUERY_TERMS = sql.SQL("""
terms AS (
    SELECT t.lexeme, search_term_id(t.lexeme) AS term_id, coalesce(s.df, 0) AS df
    FROM unnest(search_tsvector(%(qt)s)) AS t
    LEFT JOIN search_terms AS s ON s.term_id = search_term_id(t.lexeme)
),
weights AS (
    SELECT format('{%%s}/1000000000', string_agg(term_id || ':' || idf, ','))::sparsevec AS v
    FROM (SELECT term_id, sum(ln(1 + (c.chunks - df + 0.5) / (df + 0.5)))::real AS idf
          FROM terms, search_corpus AS c WHERE df > 0 GROUP BY term_id) AS i
)""")
# The rarest terms while their summed df fits the postings budget, OR-ed; else the fewest rarest
# terms whose estimated co-occurrence (`together`) fits it, AND-ed (all of them if none does).
PICKED_TERMS = sql.SQL("""
ranked AS (
    SELECT lexeme, sum(df) OVER w AS upto, row_number() OVER w AS k,
           exp(sum(ln(df::float8 / c.chunks)) OVER w) * c.chunks AS together
    FROM terms, search_corpus AS c
    WHERE df > 0 AND c.chunks > 0
    WINDOW w AS (ORDER BY df, lexeme)
),
picked AS (
    SELECT coalesce(
        string_agg(search_tsquery_operand(lexeme), ' | ') FILTER (WHERE upto <= %(postings)s),
        string_agg(search_tsquery_operand(lexeme), ' & ') FILTER (WHERE k <= (
            SELECT coalesce(min(k) FILTER (WHERE together <= %(postings)s), max(k)) FROM ranked
        )))::tsquery AS ts
    FROM ranked
)""")


def budgeted(model: str, scope: AccessScope) -> sql.Composed:
    """CTE `budgeted` (id, bm25): at most %(budget)s chunks in scope matching the picked terms
    (needs `picked`)."""
    return sql.SQL(
        """budgeted AS (
    SELECT c.id, c.bm25 FROM picked AS p, LATERAL (
        SELECT c.id, c.bm25 FROM document_chunks AS c
        WHERE search_tsvector(c.content) @@ p.ts AND c.embedding_model = {model} AND {scope}
        LIMIT %(budget)s
    ) AS c
)"""
    ).format(model=sql.Literal(model), scope=scope.sql("c"))


def lexical_candidates(model: str, scope: AccessScope) -> sql.Composed:
    """`WITH ... SELECT id, score` of the top %(fk)s chunks by BM25 (params qt, postings, budget,
    fk: see `postings_for`)."""
    return sql.SQL(
        """WITH {terms}, {picked}, {budgeted}
SELECT c.id, -(c.bm25 <#> w.v) AS score
FROM budgeted AS c, weights AS w
ORDER BY score DESC, c.id
LIMIT %(fk)s"""
    ).format(terms=QUERY_TERMS, picked=PICKED_TERMS, budgeted=budgeted(model, scope))


def _scored_whole(model: str, scope: AccessScope, matching: sql.Composable) -> sql.Composed:
    """The top %(fk)s chunks by BM25 among every chunk in scope that is `matching` (param qt)."""
    return sql.SQL(
        """WITH {terms}
SELECT c.id, -(c.bm25 <#> w.v) AS score
FROM weights AS w, document_chunks AS c
WHERE {matching} AND c.embedding_model = {model} AND {scope}
ORDER BY score DESC, c.id
LIMIT %(fk)s"""
    ).format(terms=QUERY_TERMS, matching=matching, model=sql.Literal(model), scope=scope.sql("c"))


def scope_candidates(model: str, scope: AccessScope) -> sql.Composed:
    """Every chunk in scope holding a query term, read from the scope's rows (a positive BM25
    score) rather than the index: exact, with cost in the scope's rows, so only for small scopes."""
    return _scored_whole(model, scope, sql.SQL("(c.bm25 <#> w.v) < 0"))


def lexical_leg(model: str, scope: AccessScope, plan: VectorPlan) -> sql.Composed:
    """The lexical leg for a scope and its plan: scored whole where the vector leg is exact (a
    small scope), else by the postings budget. Params: qt, fk, budget, postings."""
    if plan.kind == "exact":
        return scope_candidates(model, scope)
    return lexical_candidates(model, scope)


def exhaustive_candidates(model: str, scope: AccessScope) -> sql.Composed:
    """The same BM25 over every matching chunk found through the index, no budget: the reference
    the budgeted leg is measured against (evals, live recall), never the request path."""
    return _scored_whole(
        model,
        scope,
        sql.SQL(
            "search_tsvector(c.content) @@ (SELECT string_agg(search_tsquery_operand(lexeme), "
            "' | ') FROM terms WHERE df > 0)::tsquery"
        ),
    )
