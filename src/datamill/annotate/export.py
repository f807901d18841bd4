"""Export accepted annotations as datamill post-training records (:mod:`datamill.post.schema`),
ready for :func:`datamill.post.formats.write_records` (TRL, LLaMA-Factory, ShareGPT, …).

``sft``
    One record per accepted ``rewrite`` answer (a better answer, or an OpenAssistant reply):
    the task's prompt + the written assistant turn. A reviewer's fix replaces the annotator's text.
``preference``
    One pair per item from the accepted answers of every annotator: from a ``ranking`` question
    (mean rank; ``pairs="best_worst"`` (default) or ``"all"`` pairs with different mean ranks),
    else a ``pairwise`` question (majority, ties dropped), else per-response ``ratings`` (mean
    over criteria and annotators). ``ratings`` holds the chosen response's mean per criterion and
    ``metadata["annotation_metrics"]`` both sides' (``{"chosen": {...}, "rejected": {...}}``).
``kto``
    One record per judged response: desirable when its mean rating is above the middle of the
    scale (below: undesirable; exactly the middle: left out), else chosen/rejected of the pair.
``ranking``
    One record per item with ≥ 2 responses and a ranking or ratings: ``responses`` with ``rank``
    (1 best, from the mean rank or mean rating), ``score`` (mean rating) and ``ratings``.
``prompts``
    ``{"id", "prompt", "metadata"}`` rows from accepted ``prompt`` answers (OpenAssistant step 1),
    which a reply-writing project imports as its dataset.

Every record carries its provenance in ``metadata["annotation"]``: the project, the item and
its source record id, and for each accepted answer who gave it, when, in which round, who
reviewed it and how, plus the item's agreement per question (share of annotators agreeing with
the majority for choices, ``1 - mean |deviation| / scale range`` for ratings and ranks).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamill.annotate.db import ACCEPTED, Assignment, Item, Project, User, utcnow
from datamill.annotate.review import final_answer
from datamill.core.errors import DatamillError

EXPORT_KINDS = ("sft", "preference", "kto", "ranking", "prompts")


def accepted_answers(db: Session, project: Project) -> dict[int, list[dict[str, Any]]]:
    """``{item_id: [{"user", "answer", "submitted_at", "round", "reviewer", "reviewed_at",
    "decision", "assignment_id"}]}`` for accepted assignments."""
    users = {u.id: u.username for u in db.scalars(select(User))}
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    q = (select(Assignment).where(Assignment.project_id == project.id, Assignment.status == ACCEPTED)
         .order_by(Assignment.item_id, Assignment.id))
    for a in db.scalars(q):
        answer, rev, ann = final_answer(db, a)
        if answer is None:
            continue
        out[a.item_id].append({
            "assignment_id": a.id, "user": users.get(a.user_id, f"#{a.user_id}"), "answer": answer,
            "submitted_at": ann.created_at.isoformat() if ann else None, "round": a.round,
            "reviewer": users.get(rev.reviewer_id) if rev else None,
            "reviewed_at": rev.created_at.isoformat() if rev else None,
            "decision": rev.decision if rev else "auto",
        })
    return out


# ---------------------------------------------------------------------------------------------
# per-item agreement


def _majority_share(values: list[Any]) -> float | None:
    vals = [repr(v) for v in values if v is not None]
    if len(vals) < 2:
        return None
    return Counter(vals).most_common(1)[0][1] / len(vals)


def _spread(values: list[float], lo: float, hi: float) -> float | None:
    vals = [float(v) for v in values if v is not None]
    if len(vals) < 2 or hi <= lo:
        return None
    m = statistics.fmean(vals)
    return 1.0 - statistics.fmean(abs(v - m) for v in vals) / (hi - lo)


def item_agreement(schema: dict[str, Any], view: dict[str, Any], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement of the annotators of one item, per question (``None`` with fewer than two)."""
    out: dict[str, Any] = {}
    n = len(view.get("responses") or [])
    for q in schema["questions"]:
        qid, t = q["id"], q["type"]
        vals = [a["answer"].get(qid) for a in answers]
        if t in ("labels", "pairwise"):
            out[qid] = _majority_share(vals)
        elif t == "ranking" and n >= 2:
            per = [_spread([v[i] for v in vals if isinstance(v, list) and len(v) == n], 1, n) for i in range(n)]
            per = [p for p in per if p is not None]
            out[qid] = statistics.fmean(per) if per else None
        elif t == "ratings":
            lo, hi = q["scale"]
            cells: dict[tuple, list[float]] = defaultdict(list)
            for v in vals:
                targets = v if isinstance(v, list) else [v]
                for ti, d in enumerate(targets):
                    for c, r in (d or {}).items():
                        cells[(ti, c)].append(r)
            per = [s for s in (_spread(x, lo, hi) for x in cells.values()) if s is not None]
            out[qid] = statistics.fmean(per) if per else None
    return out


# ---------------------------------------------------------------------------------------------
# aggregation helpers


def _question(schema: dict[str, Any], qtype: str, pred=None) -> dict[str, Any] | None:
    for q in schema["questions"]:
        if q["type"] == qtype and (pred is None or pred(q)):
            return q
    return None


def _mean_ranks(q, answers, n) -> list[float] | None:
    ranks = [a["answer"].get(q["id"]) for a in answers]
    ranks = [r for r in ranks if isinstance(r, list) and len(r) == n]
    if not ranks:
        return None
    return [statistics.fmean(r[i] for r in ranks) for i in range(n)]


def _mean_ratings(q, answers, n) -> list[dict[str, float]] | None:
    """Per response: {criterion: mean over annotators}."""
    if q is None or not q.get("per_response", True) or n == 0:
        return None
    cells: list[dict[str, list[float]]] = [defaultdict(list) for _ in range(n)]
    for a in answers:
        v = a["answer"].get(q["id"])
        if isinstance(v, list) and len(v) == n:
            for i, d in enumerate(v):
                for c, r in (d or {}).items():
                    cells[i][c].append(float(r))
    if not any(cells):
        return None
    return [{c: round(statistics.fmean(vs), 4) for c, vs in cell.items()} for cell in cells]


def _overall(d: dict[str, float] | None) -> float | None:
    return statistics.fmean(d.values()) if d else None


def _provenance(project: Project, item: Item, answers: list[dict[str, Any]], agreement: dict[str, Any],
                aggregate: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    rec_meta = item.record.get("metadata") if isinstance(item.record.get("metadata"), dict) else {}
    prov = {"project": project.name, "project_id": project.id, "template": project.template,
            "item": item.external_id, "item_id": item.id, "source_id": item.record.get("id"),
            "source": rec_meta.get("source"),
            "annotators": [{k: a[k] for k in ("user", "submitted_at", "round", "reviewer", "reviewed_at", "decision")}
                           for a in answers],
            "agreement": agreement, "exported_at": utcnow().isoformat()}
    if aggregate:
        prov["aggregate"] = aggregate
    prov.update(extra)
    return prov


def _pairs(order: list[int], key: list[float], mode: str) -> list[tuple[int, int]]:
    """(better, worse) pairs of response indices, ``order`` best first by ``key``. ``all``: every
    pair with different keys (tied responses are never paired). ``best_worst``: every response
    tied for best against every response tied for worst (one pair without ties)."""
    if mode == "best_worst":
        top, bottom = key[order[0]], key[order[-1]]
        if top == bottom:
            return []
        return [(b, w) for b in order if key[b] == top for w in order if key[w] == bottom]
    return [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))
            if key[order[i]] != key[order[j]]]


def _label_value(v: Any) -> Any:
    """An answer to a labels/pairwise question as one hashable label (a multi-label answer as
    its sorted labels joined by ``|``)."""
    if isinstance(v, list):
        if not v:
            return None
        return str(v[0]) if len(v) == 1 else "|".join(sorted(map(str, v)))
    return v


def aggregate_choices(schema: dict[str, Any], by_item: dict[int, list[dict[str, Any]]],
                      method: str) -> dict[str, dict[int, dict[str, Any]]]:
    """Per labels/pairwise question: ``{item_id: {"label", "confidence", "distribution",
    "method", "n_votes"}}`` from every accepted answer, by majority or Dawid-Skene (fitted on
    the whole project, so each annotator's reliability comes from all their answers)."""
    from datamill.annotate.aggregate import aggregate_labels

    out: dict[str, dict[int, dict[str, Any]]] = {}
    for q in schema["questions"]:
        if q["type"] not in ("labels", "pairwise"):
            continue
        rows = [(item_id, a["user"], _label_value(a["answer"].get(q["id"])))
                for item_id, answers in by_item.items() for a in answers]
        rows = [r for r in rows if r[2] is not None]
        if rows:
            out[q["id"]] = aggregate_labels(rows, method)
    return out


RATINGS_METHOD = ("mean over the accepted answers per response and criterion; a response's overall score is "
                  "the mean of its criteria")


def export_metadata(db: Session, project: Project, kind: str, *, pairs: str = "best_worst",
                    aggregate: str = "majority", count: int | None = None) -> dict[str, Any]:
    """What an export holds and how it was made: the project, kind, pair mode, the method that
    aggregated choices and ratings, and agreement per question (Krippendorff's alpha and more,
    :func:`datamill.annotate.dashboard.compute_agreement`) over the accepted answers."""
    from datamill.annotate.dashboard import compute_agreement

    by_item = accepted_answers(db, project)
    rows = [(item_id, a["user"], a["answer"]) for item_id, answers in by_item.items() for a in answers]
    return {"project": project.name, "project_id": project.id, "kind": kind, "pairs": pairs,
            "aggregate": aggregate, "ratings": RATINGS_METHOD, "count": count,
            "items_with_accepted_answers": len(by_item),
            "agreement": compute_agreement(project.question_schema, rows), "exported_at": utcnow().isoformat()}


def export_records(db: Session, project: Project, kind: str, *, pairs: str = "best_worst",
                   min_annotators: int = 1, aggregate: str = "majority") -> list[dict[str, Any]]:
    """Records of ``kind`` (one of :data:`EXPORT_KINDS`) from the accepted answers of ``project``;
    items with fewer than ``min_annotators`` accepted answers are left out. ``aggregate``:
    ``majority`` or ``dawid-skene`` for label and pairwise questions (the result, with its
    confidence, is in ``metadata["annotation"]["aggregate"]``; a pairwise preference follows it)."""
    from datamill.annotate.aggregate import AGGREGATE_METHODS

    if kind not in EXPORT_KINDS:
        raise DatamillError(f"export kind {kind!r}: choose one of {', '.join(EXPORT_KINDS)}")
    if pairs not in ("best_worst", "all"):
        raise DatamillError("pairs: best_worst or all")
    if aggregate not in AGGREGATE_METHODS:
        raise DatamillError(f"aggregate: one of {', '.join(AGGREGATE_METHODS)}")
    schema = project.question_schema
    by_item = accepted_answers(db, project)
    choices = aggregate_choices(schema, by_item, aggregate) if by_item else {}
    items = {i.id: i for i in db.scalars(select(Item).where(Item.id.in_(list(by_item))))} if by_item else {}
    out: list[dict[str, Any]] = []
    q_rank = _question(schema, "ranking")
    q_pair = _question(schema, "pairwise")
    q_rate = _question(schema, "ratings", lambda q: q.get("per_response", True))
    q_rate_item = _question(schema, "ratings")
    for item_id in sorted(by_item, key=lambda i: items[i].position):
        item, answers = items[item_id], by_item[item_id]
        if len(answers) < min_annotators:
            continue
        view = item.view
        prompt = view.get("prompt") or []
        resp = view.get("responses") or []
        n = len(resp)
        agreement = item_agreement(schema, view, answers)
        agg = {qid: res[item_id] for qid, res in choices.items() if item_id in res}
        base_id = f"{project.name}/{item.external_id}"
        if kind == "sft":
            for q in schema["questions"]:
                if q["type"] != "rewrite":
                    continue
                for a in answers:
                    text = a["answer"].get(q["id"])
                    if not isinstance(text, str) or not text.strip():
                        continue
                    if not prompt:
                        continue
                    msgs = [dict(m) for m in prompt] + [{"role": "assistant", "content": text}]
                    out.append({"id": f"{base_id}/{q['id']}/{a['assignment_id']}", "kind": "sft", "messages": msgs,
                                "metadata": {"annotation": _provenance(project, item, [a], agreement, agg,
                                                                       question=q["id"])}})
        elif kind == "prompts":
            for q in schema["questions"]:
                if q["type"] != "prompt":
                    continue
                for a in answers:
                    text = a["answer"].get(q["id"])
                    if isinstance(text, str) and text.strip():
                        out.append({"id": f"{base_id}/{q['id']}/{a['assignment_id']}", "prompt": text,
                                    "metadata": {"annotation": _provenance(project, item, [a], agreement, agg,
                                                                           question=q["id"])}})
        elif kind in ("preference", "ranking", "kto"):
            ratings = _mean_ratings(q_rate, answers, n)
            overall = [_overall(r) for r in ratings] if ratings else None
            key: list[float] | None = None
            source = None
            if q_rank is not None and n >= 2:
                mr = _mean_ranks(q_rank, answers, n)
                if mr is not None:
                    key, source = [-r for r in mr], "ranking"   # higher key = better
            if key is None and q_pair is not None and n == 2 and kind != "ranking":
                res = agg.get(q_pair["id"])  # majority (a tie gives no label) or Dawid-Skene
                if res is not None and res["label"] in ("A", "B"):
                    key = [float(res["label"] == "A"), float(res["label"] == "B")]
                    source = "pairwise" if aggregate == "majority" else f"pairwise ({aggregate})"
            if key is None and overall is not None and all(v is not None for v in overall):
                key, source = list(overall), "ratings"
            if kind == "kto":
                q_scale = q_rate_item["scale"] if q_rate_item else None
                judged: list[tuple[int, bool, str]] = []
                if ratings is not None and q_scale:
                    mid = (q_scale[0] + q_scale[1]) / 2
                    for i, r in enumerate(overall or []):
                        if r is not None and r != mid:
                            judged.append((i, r > mid, "ratings"))
                elif q_rate_item is not None and not q_rate_item.get("per_response", True) and n == 1:
                    vals = [a["answer"].get(q_rate_item["id"]) for a in answers]
                    means = [_overall(v) for v in vals if isinstance(v, dict) and v]
                    mid = (q_rate_item["scale"][0] + q_rate_item["scale"][1]) / 2
                    if means and statistics.fmean(means) != mid:
                        judged.append((0, statistics.fmean(means) > mid, "ratings"))
                elif key is not None and n >= 2:
                    top, bottom = max(key), min(key)
                    if top != bottom:  # every response tied for best is desirable, tied for worst not
                        judged += [(i, True, source) for i in range(n) if key[i] == top]
                        judged += [(i, False, source) for i in range(n) if key[i] == bottom]
                for i, label, src in judged:
                    rec = {"id": f"{base_id}/kto/{i}", "kind": "kto", "messages": [dict(m) for m in prompt],
                           "completion": resp[i]["messages"], "label": bool(label),
                           "metadata": {"annotation": _provenance(project, item, answers, agreement, agg,
                                                                  derived_from=src, response=resp[i]["origin"])}}
                    if ratings is not None and ratings[i]:
                        rec["ratings"] = ratings[i]
                    out.append(rec)
                continue
            if key is None or n < 2:
                continue
            order = sorted(range(n), key=lambda i: (-key[i], i))
            if kind == "ranking":
                if len(set(key)) == 1:
                    continue  # everything tied: no order to export
                dense, last, rank = {}, None, 0
                for i in order:
                    if key[i] != last:
                        rank, last = rank + 1, key[i]
                    dense[i] = rank
                responses = []
                for i in range(n):
                    r: dict[str, Any] = {"messages": resp[i]["messages"], "rank": dense[i]}
                    if overall is not None and overall[i] is not None:
                        r["score"] = round(overall[i], 4)
                    if ratings is not None and ratings[i]:
                        r["ratings"] = ratings[i]
                    responses.append(r)
                out.append({"id": f"{base_id}/ranking", "kind": "ranking", "messages": [dict(m) for m in prompt],
                            "responses": responses,
                            "metadata": {"annotation": _provenance(project, item, answers, agreement, agg,
                                                                   derived_from=source,
                                                                   origins=[r["origin"] for r in resp])}})
                continue
            for b, w in _pairs(order, key, pairs):
                rec = {"id": f"{base_id}/pref/{b}-{w}", "kind": "preference", "messages": [dict(m) for m in prompt],
                       "chosen": resp[b]["messages"], "rejected": resp[w]["messages"]}
                meta: dict[str, Any] = {"annotation": _provenance(project, item, answers, agreement, agg, derived_from=source,
                                                                  chosen=resp[b]["origin"],
                                                                  rejected=resp[w]["origin"])}
                if ratings is not None:
                    if ratings[b]:
                        rec["ratings"] = ratings[b]
                    meta["annotation_metrics"] = {"chosen": ratings[b], "rejected": ratings[w]}
                rec["metadata"] = meta
                out.append(rec)
    return out


def write_export(db: Session, project: Project, kind: str, path: str, fmt: str = "datamill",
                 **options: Any) -> int:
    """Export and write to ``path`` in ``fmt`` (any writer of :mod:`datamill.post.formats`;
    ``prompts`` are written as JSON lines), and the export's metadata
    (:func:`export_metadata`) to ``path + ".meta.json"``. Returns the number of records."""
    import orjson

    from datamill.io.atomic import atomic_open

    records = export_records(db, project, kind, **options)
    meta = export_metadata(db, project, kind, pairs=options.get("pairs", "best_worst"),
                           aggregate=options.get("aggregate", "majority"), count=len(records))
    meta["format"] = fmt
    _write_records(records, kind, path, fmt)
    with atomic_open(path + ".meta.json", "wb") as fh:
        fh.write(orjson.dumps(meta, option=orjson.OPT_INDENT_2, default=str))
    return len(records)


def _write_records(records: list[dict[str, Any]], kind: str, path: str, fmt: str) -> int:
    if kind == "prompts":
        import orjson

        from datamill.io.atomic import atomic_open

        with atomic_open(path, "wb") as fh:
            for r in records:
                fh.write(orjson.dumps(r) + b"\n")
        return len(records)
    from datamill.post.formats import write_records

    write_records(records, path, fmt)
    return len(records)
