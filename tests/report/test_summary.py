from datamill.report.summary import format_summary


def test_summary_shows_fallbacks_per_step():
    stats = {"pipeline": "p", "inputs": ["a"], "reader": {"read": 3, "files": 1, "skipped": {}},
             "steps": [{"step": "gopher_quality", "kind": "filter", "in": 3, "out": 2, "seconds": 0.1,
                        "dropped": {"gopher_short_doc": 1}, "fallbacks": {"no_language_used_default": 3}}],
             "output": {"records": 2, "files": ["part-00000.jsonl.gz"], "format": "jsonl"},
             "output_dir": "out"}
    text = format_summary(stats)
    assert "fallbacks in gopher_quality: no_language_used_default 3" in text
    assert "gopher_short_doc  (gopher_quality)" in text
