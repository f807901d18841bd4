"""Prompt templates and reply parsers of the LLM steps, one module per task.

Each module has a ``VERSION`` string that the steps record with every output
(``metadata.llm[LABEL].template``), so a dataset says which prompt made it.
"""
