"""Training, evaluating and loading the models behind the model-based quality signals.

This package sits in the steps layer (it imports ``core``, ``io``, ``text``, ``embed`` and the
shared head code of ``post.quality_model``); the taggers in ``steps/quality`` load what it
trains, and ``datamill classifier`` / ``datamill lm`` are its command-line twins.

* :mod:`.labelled` — reading training sources (files, output folders, labelled CSV/JSONL/Parquet)
* :mod:`.metrics` — P/R/F1/AUC and Spearman
* :mod:`.classifier` — fastText and embedding+head text classifiers: train, save, load, predict
* :mod:`.card` — the model card written beside every model
* :mod:`.text_prep` — one line of tokens per document for fastText (CJK segmented)
* :mod:`.ccnet_norm` and :mod:`.kenlm_train` — CCNet normalisation and KenLM training
"""
