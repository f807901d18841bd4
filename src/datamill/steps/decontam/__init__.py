"""Benchmark decontamination: an n-gram index of test sets (``index``) and the
``decontaminate`` step that tags or drops overlapping records and reports them (``step``)."""
