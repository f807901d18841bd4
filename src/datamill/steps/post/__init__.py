"""Cleaning steps for post-training records (SFT, preference, KTO, ranking).

They work on internal records (:mod:`datamill.post.schema`), as the pipeline reads them with
``input: {records: auto}``; see ``recipes/sft-clean.yaml``, ``recipes/preference-clean.yaml``
and docs/post-training.md ("Cleaning").
"""
