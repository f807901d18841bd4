"""py3langid's model, decompressed once into the cache, loads into the identical identifier."""

import pytest

pytest.importorskip("py3langid")

from datamill.steps.langid import second_opinion  # noqa: E402

TEXTS = ["The council approved the budget on Tuesday.", "市议会周二批准了新的预算。",
         "Der Stadtrat hat den Haushalt beschlossen.", "短", ""]


def test_cached_model_is_identical(tmp_path, monkeypatch):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = second_opinion._from_cache()
    files = list((tmp_path / "datamill").glob("py3langid-*.npz"))
    assert cached is not None and len(files) == 1
    assert not list((tmp_path / "datamill").glob("*.part"))  # written atomically
    ref = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    assert cached.nb_classes == ref.nb_classes
    for text in TEXTS:
        assert cached.rank(text)[:10] == ref.rank(text)[:10]
    again = second_opinion._from_cache()  # from the file now
    assert [again.rank(t)[:3] for t in TEXTS] == [ref.rank(t)[:3] for t in TEXTS]


def test_unreadable_cache_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = second_opinion._cache_file()
    path.write_bytes(b"not an npz")
    assert second_opinion._from_cache() is None  # the caller then loads from the wheel
