"""Dominant script of a text and the languages that write it."""

from datamill.text.scripts import SCRIPT_LANGUAGES, dominant_script


def test_dominant_script():
    assert dominant_script("The quick brown fox") is None  # Latin says nothing
    assert dominant_script("") is None and dominant_script("1234 !!") is None
    assert dominant_script("届出者数は26％増の51万5168人。") == "Kana"
    assert dominant_script("五、同业间良性的普遍推广与各团体的互助。") == "Han"
    assert dominant_script("中文") == "Han" and dominant_script("字") == "Han"
    assert dominant_script("대한민국의 수도는 서울이다.") == "Hangul"
    assert dominant_script("韓國語 한국어 문장입니다") == "Hangul"  # hanja inside Korean
    assert dominant_script("Καλημέρα κόσμε") == "Greek"
    assert dominant_script("Привет, мир") == "Cyrillic"
    assert dominant_script("สวัสดีครับ") == "Thai"
    # a Chinese word in English text does not make the text Chinese
    assert dominant_script("We ate at 北京饭店 yesterday with all our friends") is None
    # the katakana long-vowel mark and middle dot are not kana
    assert dominant_script("卡拉ー同业间良性的普遍") == "Han"


def test_script_languages_are_lid176_labels():
    assert SCRIPT_LANGUAGES["Greek"] == ("el",) and SCRIPT_LANGUAGES["Han"][0] == "zh"
    assert all(langs for langs in SCRIPT_LANGUAGES.values())
