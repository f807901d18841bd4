"""Turn a labelled dataset into instruction data with Jinja templates (the Flan / Super-NaturalInstructions recipe).

A *template set* is a YAML file (or a dict) with one or more prompt/response templates for one
task, and how the dataset's columns map onto the templates' variables::

    name: sentiment
    columns: {text: sentence, label: label}   # template variable: dataset column
    label_map: {0: negative, 1: positive}      # optional: raw label -> its words
    system: You are a careful annotator.       # optional system message
    templates:                                  # one is drawn per row (seeded), or all of them
      - prompt: "Is this review positive or negative?\\n\\n{{ text }}\\n\\n{{ options_block }}"
        response: "{{ label }}"
      - prompt: "{{ text }}\\nHow does the writer feel about the film?"
    few_shot:                                   # optional, these are the defaults
      prefix: ""
      example: "{{ prompt }}\\n{{ response }}"
      separator: "\\n\\n"
    cot:                                        # optional, these are the defaults
      trigger: "Let's think step by step."
      response: "{{ rationale }}\\nSo the answer is {{ label }}."
      rationale_column: rationale

A single Jinja template file (``.j2``, ``.jinja``, ``.txt``) or string is a set with one prompt
template, answered by the ``label`` variable (map it with ``columns``).

Variables in a template: every column of the row (by its own name), the mapped names from
``columns``, ``label`` after ``label_map``, ``options`` (the sorted distinct labels),
``options_block`` (``OPTIONS:\\n- a\\n- b``, as in Flan) and ``index``.

Three variants (Flan's mix of them is the point):

* ``zero_shot``: the prompt, answered by the response;
* ``few_shot``: ``k`` solved examples drawn from other rows (seeded) before the prompt, inline
  in one user turn (``few_shot_style="inline"``, Flan's way) or as earlier user/assistant turns
  (``"chat"``);
* ``cot``: the prompt plus the trigger, answered by the rationale and then the answer; it needs a
  rationale column (Flan's CoT data has human rationales). With few-shot, the examples carry
  their rationales too.

The result is :mod:`datamill.post.schema` SFT records whose ``metadata`` names the template,
the variant, the source row and the few-shot rows used.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from datamill.core.errors import DatamillError, InputError
from datamill.post.schema import message, sft

VARIANTS = ("zero_shot", "few_shot", "cot")
DEFAULT_EXAMPLE = "{{ prompt }}\n{{ response }}"
DEFAULT_TRIGGER = "Let's think step by step."
DEFAULT_COT_RESPONSE = "{{ rationale }}\nSo the answer is {{ label }}."


class TemplateError(DatamillError):
    """A template that cannot be loaded or rendered (names the template and the row)."""


@dataclass
class PromptTemplate:
    prompt: str
    response: str = "{{ label }}"
    name: str = ""


@dataclass
class TemplateSet:
    """One task's templates and column mapping (see the module doc)."""

    name: str
    templates: list[PromptTemplate]
    columns: dict[str, str] = field(default_factory=dict)
    label_map: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    few_shot_prefix: str = ""
    few_shot_example: str = DEFAULT_EXAMPLE
    few_shot_separator: str = "\n\n"
    cot_trigger: str = DEFAULT_TRIGGER
    cot_response: str = DEFAULT_COT_RESPONSE
    rationale_column: str = "rationale"

    @classmethod
    def from_dict(cls, spec: dict[str, Any], default_name: str = "template") -> "TemplateSet":
        if not isinstance(spec, dict):
            raise TemplateError("a template set must be a mapping with a 'templates' list")
        unknown = set(spec) - {"name", "templates", "columns", "label_map", "system", "few_shot", "cot",
                               "prompt", "response"}
        if unknown:
            raise TemplateError(f"unknown template-set keys: {', '.join(sorted(unknown))}")
        raw = spec.get("templates")
        if raw is None and "prompt" in spec:
            raw = [{"prompt": spec["prompt"], "response": spec.get("response", "{{ label }}")}]
        if not raw:
            raise TemplateError("the template set has no templates (give 'templates: [{prompt: …}]')")
        templates = []
        for i, t in enumerate(raw):
            if isinstance(t, str):
                t = {"prompt": t}
            if not isinstance(t, dict) or "prompt" not in t:
                raise TemplateError(f"template {i + 1} needs a 'prompt'")
            templates.append(PromptTemplate(prompt=str(t["prompt"]), response=str(t.get("response", "{{ label }}")),
                                            name=str(t.get("name") or f"t{i + 1}")))
        few = spec.get("few_shot") or {}
        cot = spec.get("cot") or {}
        return cls(name=str(spec.get("name") or default_name), templates=templates,
                   columns={str(k): str(v) for k, v in (spec.get("columns") or {}).items()},
                   label_map={str(k): v for k, v in (spec.get("label_map") or {}).items()},
                   system=spec.get("system"),
                   few_shot_prefix=str(few.get("prefix", "")),
                   few_shot_example=str(few.get("example", DEFAULT_EXAMPLE)),
                   few_shot_separator=str(few.get("separator", "\n\n")),
                   cot_trigger=str(cot.get("trigger", DEFAULT_TRIGGER)),
                   cot_response=str(cot.get("response", DEFAULT_COT_RESPONSE)),
                   rationale_column=str(cot.get("rationale_column", "rationale")))


def load_template(source: str | os.PathLike | dict, columns: dict[str, str] | None = None) -> TemplateSet:
    """A :class:`TemplateSet` from a YAML file, a Jinja file, a dict, or a template string.
    ``columns`` adds to (and overrides) the set's own column mapping."""
    if isinstance(source, dict):
        ts = TemplateSet.from_dict(source)
    else:
        text = os.fspath(source)
        path = Path(text)
        is_file = len(text) < 4096 and "\n" not in text and path.is_file()
        if is_file:
            body = path.read_text(encoding="utf-8")
            if path.suffix in (".yaml", ".yml"):
                try:
                    spec = yaml.safe_load(body)
                except yaml.YAMLError as exc:
                    mark = getattr(exc, "problem_mark", None)
                    where = f":{mark.line + 1}" if mark else ""
                    raise TemplateError(f"{path}{where}: broken YAML ({getattr(exc, 'problem', exc)})") from exc
                try:
                    ts = TemplateSet.from_dict(spec, default_name=path.stem)
                except TemplateError as exc:
                    raise TemplateError(f"{path}: {exc}") from exc
            else:
                ts = TemplateSet(name=path.stem.split(".")[0], templates=[PromptTemplate(body.rstrip("\n"), name="t1")])
        elif text.endswith((".yaml", ".yml", ".j2", ".jinja", ".jinja2")) and "{" not in text:
            raise TemplateError(f"template file {text!r} not found")
        else:
            ts = TemplateSet(name="template", templates=[PromptTemplate(text, name="t1")])
    if columns:
        ts.columns.update(columns)
    _compile_all(ts)
    return ts


# --- Jinja ---------------------------------------------------------------------------------------

_ENV = None


def _env():
    global _ENV
    if _ENV is None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        _ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False,
                                             autoescape=False)
    return _ENV


_COMPILED: dict[str, Any] = {}


def _compile(src: str, what: str):
    from jinja2 import TemplateSyntaxError

    if src not in _COMPILED:
        try:
            _COMPILED[src] = _env().from_string(src)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{what}: Jinja syntax error on line {exc.lineno}: {exc.message}") from exc
    return _COMPILED[src]


def _compile_all(ts: TemplateSet) -> None:
    for t in ts.templates:
        _compile(t.prompt, f"template {ts.name}/{t.name} prompt")
        _compile(t.response, f"template {ts.name}/{t.name} response")
    _compile(ts.few_shot_example, f"template {ts.name} few_shot.example")
    _compile(ts.cot_response, f"template {ts.name} cot.response")
    if ts.system:
        _compile(ts.system, f"template {ts.name} system")


def _render(src: str, variables: dict[str, Any], what: str) -> str:
    from jinja2 import UndefinedError

    try:
        return _compile(src, what).render(**variables).strip()
    except UndefinedError as exc:
        cols = ", ".join(sorted(k for k in variables if not k.startswith("_")))
        raise TemplateError(f"{what}: {exc.message}; the row has: {cols} (map columns with "
                            f"'columns:' or --column VAR=COLUMN)") from exc
    except Exception as exc:  # noqa: BLE001 - any Jinja runtime error, one clear line
        raise TemplateError(f"{what}: {type(exc).__name__}: {exc}") from exc


# --- reading labelled data ---------------------------------------------------------------------

def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a labelled dataset: JSONL (``.jsonl``, ``.jsonl.gz``), a JSON list, CSV/TSV or
    Parquet, as plain dicts."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    name = p.name.lower()
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(p).to_pylist()
        raw = p.read_bytes()
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
            name = name[:-3]
        text = raw.decode("utf-8-sig")
        if name.endswith((".csv", ".tsv")):
            return [dict(r) for r in csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith(".tsv") else ",")]
        if name.endswith(".json") and text.lstrip().startswith("["):
            rows = json.loads(text)
        else:
            rows = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise InputError(f"{p}:{n}: not JSON ({exc})") from exc
    except (ValueError, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{p}: cannot be read as a labelled dataset ({exc})") from exc
    bad = [i for i, r in enumerate(rows) if not isinstance(r, dict)]
    if bad:
        raise InputError(f"{p}: row {bad[0] + 1} is not an object")
    return rows


# --- rendering ---------------------------------------------------------------------------------

def _variables(ts: TemplateSet, row: dict[str, Any], index: int, options: list[str]) -> dict[str, Any]:
    v = dict(row)
    for var, col in ts.columns.items():
        if col not in row:
            raise TemplateError(f"template {ts.name}: column {col!r} (for {{{{ {var} }}}}) is not in row "
                                f"{index + 1}; the row has: {', '.join(sorted(map(str, row)))}")
        v[var] = row[col]
    if "label" in v and ts.label_map:
        v["label"] = ts.label_map.get(str(v["label"]), v["label"])
    v["options"] = options
    v["options_block"] = "OPTIONS:\n" + "\n".join(f"- {o}" for o in options) if options else ""
    v["index"] = index
    return v


def _label_options(ts: TemplateSet, rows: Sequence[dict]) -> list[str]:
    col = ts.columns.get("label", "label")
    seen = {str(ts.label_map.get(str(r[col]), r[col])) for r in rows if col in r and r[col] is not None}
    return sorted(seen) if 1 < len(seen) <= 50 else []


class EmptyRationale(TemplateError):
    """A chain-of-thought record whose rationale is empty: it would teach "So the answer is X"
    with no reasoning, so the row is skipped (and reported) instead."""


def _rationale(ts: "TemplateSet", v: dict) -> str:
    r = v.get("rationale", v.get(ts.rationale_column))
    return "" if r is None else str(r)


def _solved(ts: TemplateSet, t: PromptTemplate, v: dict, cot: bool, where: str) -> tuple[str, str]:
    """(prompt, response) for one row with one template."""
    prompt = _render(t.prompt, v, f"{where} prompt")
    answer = _render(t.response, v, f"{where} response")
    if not cot:
        return prompt, answer
    rat_col = ts.rationale_column
    cv = dict(v, response=answer)
    if "rationale" not in cv and rat_col in cv:
        cv["rationale"] = cv[rat_col]
    if ("rationale" in cv or rat_col in cv) and not _rationale(ts, cv).strip():
        raise EmptyRationale(f"{where}: empty rationale in column {rat_col!r}")
    prompt = f"{prompt}\n{ts.cot_trigger}".strip() if ts.cot_trigger else prompt
    return prompt, _render(ts.cot_response, cv, f"{where} cot.response (needs a '{rat_col}' column)")


def render_dataset(rows: Sequence[dict[str, Any]], template: TemplateSet | str | dict, *,
                   variants: Iterable[str] = ("zero_shot",), k: int = 3, cot: bool = False,
                   few_shot_style: str = "inline", choose: str = "random", seed: int = 0,
                   source: str = "", id_prefix: str | None = None,
                   skipped: list | None = None) -> list[dict[str, Any]]:
    """Render every row into SFT records.

    ``variants``: any of ``zero_shot``, ``few_shot`` (``k`` examples), ``cot``; each row gives
    one record per variant. ``cot=True`` makes the few-shot/zero-shot variants chain-of-thought
    as well (few-shot CoT). ``choose``: ``random`` (one template per row and variant, seeded),
    ``cycle`` (row i takes template i mod n) or ``all`` (one record per template).
    A chain-of-thought record whose row has an empty rationale is skipped, never written as a
    bare "So the answer is X"; ``skipped`` (a list) gets ``(row, variant, reason)`` for each, and
    rows without a rationale are not used as few-shot CoT examples.
    """
    ts = template if isinstance(template, TemplateSet) else load_template(template)
    variants = list(variants)
    for var in variants:
        if var not in VARIANTS:
            raise TemplateError(f"unknown variant {var!r}; choose from {', '.join(VARIANTS)}")
    if few_shot_style not in ("inline", "chat"):
        raise TemplateError("few_shot_style must be 'inline' or 'chat'")
    if choose not in ("random", "cycle", "all"):
        raise TemplateError("choose must be 'random', 'cycle' or 'all'")
    if "few_shot" in variants and len(rows) < 2:
        raise TemplateError("few-shot needs at least two rows (examples come from the other rows)")
    prefix = id_prefix if id_prefix is not None else ts.name
    options = _label_options(ts, rows)
    rng = random.Random(seed)
    out = []
    n_t = len(ts.templates)
    for i, row in enumerate(rows):
        v = _variables(ts, row, i, options)
        for variant in variants:
            if choose == "all":
                picks = list(range(n_t))
            elif choose == "cycle":
                picks = [i % n_t]
            else:
                picks = [rng.randrange(n_t)]
            for ti in picks:
                t = ts.templates[ti]
                where = f"template {ts.name}/{t.name}, row {i + 1}"
                use_cot = cot or variant == "cot"
                try:
                    prompt, answer = _solved(ts, t, v, use_cot, where)
                except EmptyRationale as exc:
                    if skipped is not None:
                        skipped.append((i, variant, str(exc)))
                    continue
                msgs = []
                if ts.system:
                    msgs.append(message("system", _render(ts.system, v, f"{where} system")))
                shots: list[int] = []
                if variant == "few_shot":
                    pool = [j for j in range(len(rows)) if j != i and not (
                        use_cot and not _rationale(ts, _variables(ts, rows[j], j, options)).strip())]
                    shots = rng.sample(pool, min(k, len(pool)))
                    examples = []
                    for j in shots:
                        ev = _variables(ts, rows[j], j, options)
                        ep, ea = _solved(ts, t, ev, use_cot, f"template {ts.name}/{t.name}, row {j + 1}")
                        examples.append((ep, ea))
                    if few_shot_style == "chat":
                        for ep, ea in examples:
                            msgs += [message("user", ep), message("assistant", ea)]
                    else:
                        blocks = [_render(ts.few_shot_example, {"prompt": ep, "response": ea},
                                          f"template {ts.name} few_shot.example") for ep, ea in examples]
                        joined = ts.few_shot_separator.join(blocks + [prompt])
                        prompt = f"{ts.few_shot_prefix}{joined}"
                msgs += [message("user", prompt), message("assistant", answer)]
                tag = variant if not (cot and variant != "cot") else f"{variant}_cot"
                meta = {"template": f"{ts.name}/{t.name}", "variant": tag, "row": i, "source": source}
                if "label" in v:
                    meta["label"] = v["label"]
                if shots:
                    meta["few_shot_rows"] = shots
                rid = f"{prefix}-{i}-{tag}" + (f"-{t.name}" if choose == "all" else "")
                out.append(sft(rid, msgs, metadata=meta))
    return out


def template_file(data: str | os.PathLike, template: str | os.PathLike | dict, **kwargs: Any) -> list[dict[str, Any]]:
    """Read ``data`` (:func:`read_rows`) and render it with ``template`` (:func:`render_dataset`)."""
    columns = kwargs.pop("columns", None)
    ts = load_template(template, columns=columns)
    return render_dataset(read_rows(data), ts, source=str(data), **kwargs)
