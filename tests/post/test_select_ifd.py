"""Selection by IFD from stored signals (post/select_ifd.py)."""

import pytest

from datamill.post.select import SelectionError, format_explanation, select


def _rec(i, ifd):
    r = {"id": f"r{i}", "kind": "sft", "messages": [{"role": "user", "content": f"question {i} 问题"},
                                                   {"role": "assistant", "content": "answer"}], "metadata": {}}
    if ifd is not None:
        r["signals"] = {"ifd_score": {"ifd": ifd}}
    return r


def test_ifd_keeps_the_highest_below_one_within_budget():
    recs = [_rec(0, 0.2), _rec(1, 0.9), _rec(2, 1.3), _rec(3, None), _rec(4, 0.5)]
    sel = select(recs, 2, method="ifd")
    assert [recs[i]["id"] for i in sel.indices] == ["r1", "r4"]
    assert sel.summary["ifd_at_or_above_max"] == 1 and sel.summary["without_signal"] == 1
    assert "by ifd" in format_explanation(sel)
    sel_tok = select(recs, None, budget_tokens=3, method="ifd", token_counts=[1, 2, 1, 1, 2])
    assert [recs[i]["id"] for i in sel_tok.indices] == ["r1", "r0"]


def test_ifd_without_signals_says_what_to_run():
    with pytest.raises(SelectionError, match="ifd_score"):
        select([_rec(0, None)], 1, method="ifd")
