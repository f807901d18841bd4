"""py3langid's model, decompressed once into the cache (one .npy file per array, mapped), loads
into an identifier that ranks exactly as py3langid's own."""

import os
import time

import pytest

pytest.importorskip("py3langid")

from datamill.steps.langid import second_opinion  # noqa: E402

TEXTS = ["The council approved the budget on Tuesday.", "市议会周二批准了新的预算。",
         "Der Stadtrat hat den Haushalt beschlossen.", "短", "",
         "Le conseil municipal a approuvé le budget mardi soir après un long débat. " * 40]


def test_cached_model_is_identical(tmp_path, monkeypatch):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    old = tmp_path / "datamill" / "py3langid-0.4.0-1-2.npz"  # an earlier version's cache file
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old")
    killed = tmp_path / "datamill" / ".py3langid-x.part"  # a writer killed two hours ago
    killed.mkdir()
    os.utime(killed, (time.time() - 7200, time.time() - 7200))
    busy = tmp_path / "datamill" / ".py3langid-y.part"  # another process writing now
    busy.mkdir()
    cached = second_opinion._from_cache()
    folders = list((tmp_path / "datamill").glob("py3langid-*"))
    assert cached is not None and len(folders) == 1 and (folders[0] / "done").exists()
    assert sorted(p.name for p in folders[0].glob("*.npy")) == sorted(f"{a}.npy" for a in second_opinion._ARRAYS)
    assert [p.name for p in (tmp_path / "datamill").glob(".*.part")] == [busy.name]
    assert not old.exists()
    ref = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    assert cached.nb_classes == ref.nb_classes
    for text in TEXTS:
        assert cached.rank(text)[:10] == ref.rank(text)[:10]
    again = second_opinion._from_cache()  # from the file now
    assert [again.rank(t)[:3] for t in TEXTS] == [ref.rank(t)[:3] for t in TEXTS]


def test_unreadable_cache_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = second_opinion._cache_dir()
    (folder / "nextmove.npy").write_bytes(b"not an npy")
    assert second_opinion._from_cache() is None  # the caller then loads from the wheel
