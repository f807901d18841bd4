"""Readers and writers: WARC/WET, JSONL (plain, .gz, .zst), Parquet; atomic commit; fsspec paths."""
