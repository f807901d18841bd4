"""Steps that call an LLM through :mod:`datamill.llm` (see docs/synthetic-data.md)."""
