from datamill.text.words import (
    base_language, count_sentences, ends_with_terminal_punct, is_punctuation, segmenter_name,
    split_sentences, split_words, words,
)


def test_english_tokens_like_spacy():
    toks = split_words("It’s the U.S. Army, don't you know? Mr. Smith paid 3,000.5 at "
                       "https://x.org/a?b=1. Call @sam_ponder.", "en")
    assert toks[:2] == ["It", "’s"]
    assert "U.S." in toks and "Mr." in toks and "3,000.5" in toks
    assert ["do", "n't"] == toks[toks.index("do"):toks.index("do") + 2]
    assert "https://x.org/a?b=1" in toks and "@sam_ponder" in toks
    assert toks[-1] == "."


def test_no_whitespace_tokens_and_punct_tokens():
    toks = split_words("a  b\n\n c ...", None)
    assert toks == ["a", "b", "c", "..."]
    assert is_punctuation("...") and is_punctuation("。") and not is_punctuation("a.")


def test_language_codes():
    assert base_language("zh-Hans") == base_language("zho_Hans") == base_language("cmn") == "zh"
    assert base_language("jpn") == "ja" and base_language(None) == ""


def test_chinese_is_segmented():
    toks = split_words("今天天气很好。我们去公园吧！", "zh")
    assert len(toks) >= 7 and "。" in toks and "公园" in toks


def test_japanese_is_segmented():
    toks = split_words("どうしても場合をプレミアムペイントする建物は、ひび割れを出す。", "ja")
    assert "建物" in toks and "プレミアム" in toks and len(toks) >= 10


def test_japanese_long_text_is_chunked():
    text = ("吾輩は猫である。名前はまだ無い。\n" * 3000)
    assert len(split_words(text, "ja")) > 3000 * 8


def test_fallback_for_thai_never_zero():
    assert segmenter_name("th") == "runs"
    assert len(split_words("สวัสดีครับ ผมชื่อ", "th")) == 2


def test_cached_words_is_tuple_and_stable():
    a = words("hello world", "en")
    assert isinstance(a, tuple) and a is words("hello world", "en")


def test_sentences():
    assert count_sentences("Mr. Smith went to Washington. He said \"hi.\" Then U.S. troops "
                           "left! Really? yes", "en") == 5
    assert split_sentences("今天天气很好。我们去公园吧！你呢？好的", "zh") == \
        ["今天天气很好。", "我们去公园吧！", "你呢？", "好的"]
    assert ends_with_terminal_punct("好的。") and ends_with_terminal_punct("ok! ")
    assert not ends_with_terminal_punct('he said "ok"')


def test_sentence_splitter_lookahead_keeps_abbreviations_and_initials():
    from datamill.text.words import split_sentences

    text = "Dr. Smith met J. Doe at 5 p.m. in the U.S. capital. Was it late? Yes! 「好」。Next one…"
    assert split_sentences(text) == ["Dr. Smith met J. Doe at 5 p.m. in the U.S. capital.",
                                     "Was it late?", "Yes!", "「好」。Next one…"]
    assert split_sentences("今天很好。明天呢？", "zh") == ["今天很好。", "明天呢？"]


def test_count_sentences_equals_split_sentences_on_lines_with_and_without_marks():
    import random

    from datamill.text.words import split_sentences

    rnd = random.Random(11)
    pieces = ["Home", "about us", " ", "  ", "Mr", ".", "!", "?", "3.5", "U.S", "\t", "今天", "。", "…"]
    for _ in range(2000):
        line = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 8)))
        for lang in ("en", "zh"):
            assert count_sentences(line, lang) == len(split_sentences(line, lang)), (line, lang)


def test_split_words_shortcuts_equal_the_regex():
    """The shortcuts of split_words ("word," "word." digits) give what the regex gives."""
    import random

    from datamill.text.words import _SPACED, split_words

    rnd = random.Random(7)
    heads = ["word", "Mr", "Mrs", "No", "no", "A", "a", "é", "Ü", "ǅ", "www", "don", "U", "cu", "x1",
             "3", "12", "²", "٣", "dogs", "O", "中文", "ä"]
    tails = [",", ".", ";", ":", "!", "?", ")", "'", "’", "..", "", "n't", ".ft", "s"]
    for _ in range(4000):
        chunk = rnd.choice(heads) + rnd.choice(tails)
        if rnd.random() < 0.3:
            chunk = rnd.choice(heads) + chunk
        assert split_words(chunk, "en") == _SPACED.findall(chunk), chunk
    text = "Mr. Smith paid 3,000 dollars, or 12. J. Doe said: no. U.S. troops left! Why? (yes)"
    assert split_words(text, "en") == [t for c in text.split() for t in _SPACED.findall(c)]
