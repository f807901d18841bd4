"""Post-training formats: read them into the internal schema (:mod:`datamill.post.schema`) and
write the internal schema out to them.

Public API (everything else in this package is an implementation detail)::

    from datamill.post.formats import (read_records, write_records, convert, to_internal,
                                       from_internal, FormatError, BadRecord, FORMATS)

    bad = []                                          # quarantine: BadRecord(file, line, reason)
    for rec in read_records("data/alpaca_en_demo.json", errors=bad):   # format auto-detected
        ...
    read_records("data/", dataset="dpo_en_demo")      # a LLaMA-Factory dataset_info.json entry
    write_records(records, "out/train.json", "sharegpt", dataset_info="my_set")  # atomic, + entry
    row = from_internal(rec, "alpaca")                # FormatError(field, why) if alpaca can't hold it
    rec = to_internal({"instruction": "Hi", "input": "", "output": "Hello"}, "alpaca")
    convert("hh-rlhf/test.jsonl.gz", "pairs.jsonl", to="trl")

Formats (:data:`FORMATS`): ``alpaca``, ``sharegpt``, ``openai``, ``trl`` (+ ``trl_implicit``,
``trl_standard``, ``trl_standard_implicit`` for writing), ``hh_rlhf``, ``llamafactory_v1``,
``self_instruct`` and ``datamill`` (the internal records as they are). Each module's docstring
says what its format holds and how roles map.
"""

from datamill.post.formats.errors import BadRecord, FormatError
from datamill.post.formats.io import (FORMATS, RECORD_FORMATS, ReadReport, WriteReport, convert, from_internal,
                                      iter_rows, read_post_shard, read_records, to_internal, write_records)
from datamill.post.formats.detect import detect_row, detect_rows
from datamill.post.formats.llamafactory import DatasetInfoError, dataset_info_entry, write_dataset_info

__all__ = ["BadRecord", "DatasetInfoError", "FORMATS", "FormatError", "RECORD_FORMATS", "ReadReport",
           "WriteReport", "convert", "dataset_info_entry", "detect_row", "detect_rows", "from_internal",
           "iter_rows", "read_post_shard", "read_records", "to_internal", "write_dataset_info", "write_records"]
