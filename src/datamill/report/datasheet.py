"""A datasheet (Gebru et al., "Datasheets for Datasets", 2021) pre-filled from the lineage and
the stats. The questions only a person can answer are left visibly open."""

from __future__ import annotations

from typing import Any

OPEN = "OPEN — to be answered by a person"


def _q(question: str, answer: str | None) -> dict[str, Any]:
    return {"question": question, "answer": answer, "open": answer is None}


def build_datasheet(src, profile) -> list[dict[str, Any]]:
    """Sections of (question, answer or None=open)."""
    stats = src.stats or {}
    lineage = src.lineage or {}
    steps = stats.get("steps") or []
    langs = profile.categorical.get("language")
    lang_text = ", ".join(f"{k} {v / max(sum(langs.values()), 1):.1%}" for k, v in langs.most_common(8)) if langs else None
    inputs = lineage.get("inputs") or [{"path": p} for p in stats.get("inputs", [])]
    input_lines = []
    for e in inputs[:20]:
        input_lines.append(f"catalog://{e['catalog']}" if "catalog" in e else
                           f"{e.get('path')}" + (f" (xxh3_128 {e['xxh3_128']})" if e.get("xxh3_128") else ""))
    if len(inputs) > 20:
        input_lines.append(f"… and {len(inputs) - 20} more")
    recipe = lineage.get("recipe") or {}
    pii = [s["step"] for s in steps if "pii" in s["step"]]
    step_lines = [f"{s['step']} ({s['kind']}): {s['in']:,} in, {s['out']:,} out"
                  + (f"; dropped {', '.join(f'{r} {n:,}' for r, n in list(s['dropped'].items())[:4])}" if s.get("dropped") else "")
                  for s in steps]
    kind = "post-training samples (conversations / preference pairs)" if src.is_post_training else "text documents"
    columns = ", ".join(src.table.column_names)
    return [
        {"section": "Motivation", "items": [
            _q("For what purpose was the dataset created? Was there a specific task in mind?", None),
            _q("Who created the dataset and on behalf of which entity?",
               f"Registered by {lineage['who']}" if lineage.get("who") else None),
            _q("Who funded the creation of the dataset?", None)]},
        {"section": "Composition", "items": [
            _q("What do the instances represent?", f"{kind}; fields: {columns}"),
            _q("How many instances are there in total?", f"{src.total_records:,} records"),
            _q("What languages does it contain?", lang_text),
            _q("Is any information missing from individual instances?",
               "Signals are missing where a step did not compute them (see the signal histograms)."),
            _q("Does the dataset contain data that might be considered confidential or that identifies people?",
               (f"Personal data was redacted by {', '.join(pii)}; e-mail and IP addresses only — names and other "
                "identifiers may remain. " + OPEN) if pii else None),
            _q("Does the dataset contain data that might be offensive, insulting or threatening?", None)]},
        {"section": "Collection process", "items": [
            _q("How was the data acquired? From which sources?", "\n".join(input_lines) if input_lines else None),
            _q("Over what timeframe was the data collected?", None),
            _q("Were the people whose data is included notified, and did they consent?", None)]},
        {"section": "Preprocessing / cleaning / labelling", "items": [
            _q("Was any preprocessing or cleaning done?",
               (f"Pipeline {stats.get('pipeline')!r}" + (f", recipe sha256 {recipe['sha256']}" if recipe.get("sha256") else "")
                + ":\n" + "\n".join(step_lines)) if steps else None),
            _q("Was the raw data saved in addition to the cleaned data?",
               "Yes: the inputs are listed with their content hashes in the lineage." if inputs else None),
            _q("Is the software used to preprocess the data available?",
               f"datamill {lineage.get('datamill_version') or ''} (git {lineage.get('git_commit') or 'unknown'})"
               if lineage else None)]},
        {"section": "Uses", "items": [
            _q("Has the dataset been used for any tasks already?", None),
            _q("What tasks could the dataset be used for? Are there tasks it should not be used for?", None),
            _q("Is there anything about the composition or collection that might impact future uses?",
               "See the bias and drift sections of the report. " + OPEN)]},
        {"section": "Distribution", "items": [
            _q("How will the dataset be distributed, and under which licence?", None),
            _q("Have third parties imposed restrictions on the data (the sources' licences)?", None)]},
        {"section": "Maintenance", "items": [
            _q("Who maintains the dataset and how can they be contacted?", None),
            _q("Will the dataset be updated? How are versions tracked?",
               f"Versions live in the datamill catalog; this is {src.ref} (immutable; see `datamill catalog log`)."
               if src.ref else "Not registered in a catalog yet: `datamill catalog add NAME OUTPUT_DIR`.")]},
    ]


def datasheet_markdown(title: str, sections: list[dict[str, Any]]) -> str:
    lines = [f"# Datasheet: {title}", "",
             "After Gebru et al., *Datasheets for Datasets* (2021). Answers were pre-filled by datamill from the "
             f"lineage and the run's statistics; questions marked **{OPEN}** need a person.", ""]
    for sec in sections:
        lines += [f"## {sec['section']}", ""]
        for item in sec["items"]:
            lines.append(f"**{item['question']}**")
            lines.append("")
            lines.append(f"**{OPEN}**" if item["open"] else item["answer"].replace("\n", "  \n"))
            lines.append("")
    return "\n".join(lines)
