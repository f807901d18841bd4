"""Token counting for post-training records, with a real tokenizer (Hugging Face ``tokenizers``).

Where the tokenizer comes from, first match wins:

1. the ``path`` argument: a ``tokenizer.json`` file (the one every Hugging Face model ships,
   for example Llama's or Qwen's), or a model folder holding one;
2. the ``DATAMILL_TOKENIZER`` environment variable (the same two forms);
3. datamill's own byte-level BPE (16,000 tokens), a 0.5 MB file shipped inside the package
   (``datamill/post/data/datamill-bpe-16000.json``). It was trained on the instruction data of
   the project's shared data folder (LLaMA-Factory demos en/zh, LIMA, OASST-zh, FastChat, the
   self-instruct seeds) by ``scripts/build_default_tokenizer.py``; nothing is trained or read
   from outside the package at run time. ``load_tokenizer(shared_dir=…)`` still trains (and
   caches) one from a folder of your own, with the same recipe.

The shipped tokenizer counts about as many tokens as the tokenizers of current open models do
on English (it is byte-level BPE like GPT-2's and Llama 3's); for limits that must match one
model exactly, give that model's ``tokenizer.json``.

:class:`TokenCounter` counts without special tokens (no BOS/EOS): the count of the text
itself. ``count_batch`` encodes a list at once in Rust threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from datamill.core.errors import DatamillError

ENV_TOKENIZER = "DATAMILL_TOKENIZER"
ENV_CACHE = "DATAMILL_CACHE_DIR"
DEFAULT_VOCAB_SIZE = 16_000
TRAIN_SUBDIR = "instruction_sft"
#: the default tokenizer shipped in the package (built by scripts/build_default_tokenizer.py)
PACKAGED_TOKENIZER = Path(__file__).resolve().parent / "data" / f"datamill-bpe-{DEFAULT_VOCAB_SIZE}.json"
_SKIP_FILES = frozenset({"dataset_info.json"})
_FORMAT_VERSION = 1  # bump when the training recipe below changes


class TokenizerError(DatamillError):
    """A tokenizer file could not be found, loaded or trained."""


class TokenCounter:
    """Counts tokens with a ``tokenizers.Tokenizer``. Pickles as its JSON (for workers)."""

    def __init__(self, tokenizer, source: str = "") -> None:
        self._tok = tokenizer
        self.source = source
        try:  # never truncate or pad: we want the real length
            self._tok.no_truncation()
            self._tok.no_padding()
        except AttributeError:  # pragma: no cover
            pass
        self.max_tokens_per_byte = _max_tokens_per_byte(tokenizer)

    @property
    def tokenizer(self):
        return self._tok

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        todo = [i for i, t in enumerate(texts) if t]
        out = [0] * len(texts)
        if todo:
            encode = getattr(self._tok, "encode_batch_fast", None) or self._tok.encode_batch  # no offsets
            encs = encode([texts[i] for i in todo], add_special_tokens=False)
            for i, enc in zip(todo, encs):
                out[i] = len(enc.ids)
        return out

    def __reduce__(self):
        return (_from_json, (self._tok.to_str(), self.source))

    def __repr__(self) -> str:
        return f"TokenCounter({self.source!r})"


def _max_tokens_per_byte(tokenizer) -> int:
    """An upper bound on tokens per UTF-8 byte: 1 for byte-level BPE without a normalizer (every
    token covers at least one byte: GPT-2, Llama 3, Qwen, datamill's own), else 2 (SentencePiece's
    word marker can stand alone). Lets callers skip counting texts that surely fit."""
    try:
        spec = json.loads(tokenizer.to_str())
    except Exception:  # noqa: BLE001
        return 2
    pre = json.dumps(spec.get("pre_tokenizer"))
    if spec.get("normalizer") is None and '"ByteLevel"' in pre and (spec.get("model") or {}).get("type") == "BPE":
        return 1
    return 2


def _from_json(data: str, source: str) -> TokenCounter:
    from tokenizers import Tokenizer

    return TokenCounter(Tokenizer.from_str(data), source)


# --- loading -------------------------------------------------------------------------------------

_LOADED: dict[str, TokenCounter] = {}
_LOCK = threading.Lock()


def load_tokenizer(path: str | os.PathLike | None = None, *, vocab_size: int = DEFAULT_VOCAB_SIZE,
                   shared_dir: str | os.PathLike | None = None) -> TokenCounter:
    """A :class:`TokenCounter` for ``path`` (a ``tokenizer.json`` or a folder with one), else
    ``$DATAMILL_TOKENIZER``, else datamill's BPE shipped in the package. With ``shared_dir`` (a
    folder holding ``instruction_sft/``) and no path, a BPE of ``vocab_size`` is trained on that
    folder instead (cached). Loaded once per process and path."""
    path = path or os.environ.get(ENV_TOKENIZER) or None
    if path is None and shared_dir is None and vocab_size != DEFAULT_VOCAB_SIZE:
        raise TokenizerError(f"the shipped tokenizer has {DEFAULT_VOCAB_SIZE:,} tokens; for "
                             f"vocab_size={vocab_size} pass shared_dir= (training data) or a tokenizer path")
    key = f"file:{path}" if path else f"bpe:{vocab_size}:{shared_dir or ''}"
    with _LOCK:
        if key not in _LOADED:
            if path:
                _LOADED[key] = _load_file(path)
            elif shared_dir is None:
                _LOADED[key] = _load_file(PACKAGED_TOKENIZER, source=f"datamill-bpe ({PACKAGED_TOKENIZER.name})")
            else:
                file = default_tokenizer_path(vocab_size=vocab_size, shared_dir=shared_dir)
                _LOADED[key] = _load_file(file, source=f"datamill-bpe ({file})")
        return _LOADED[key]


def _load_file(path: str | os.PathLike, source: str | None = None) -> TokenCounter:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover
        raise TokenizerError("token counting needs the 'tokenizers' package: pip install tokenizers") from exc
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise TokenizerError(f"tokenizer file {str(path)!r} not found (give a tokenizer.json or a "
                             "folder holding one)")
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as exc:  # noqa: BLE001 - the library raises plain Exception
        raise TokenizerError(f"{p}: not a tokenizers JSON file ({exc})") from exc
    return TokenCounter(tok, source or str(p))


# --- training ------------------------------------------------------------------------------------

def cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env) / "tokenizers"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "datamill" / "tokenizers"


def training_files(shared_dir: str | os.PathLike) -> list[Path]:
    """The instruction files under ``shared_dir/instruction_sft`` a tokenizer is trained on, sorted."""
    root = Path(shared_dir) / TRAIN_SUBDIR
    if not root.is_dir():
        raise TokenizerError(f"no tokenizer training data at {root} (a folder holding "
                             f"{TRAIN_SUBDIR}/ with .json/.jsonl files is expected)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")
                   and p.name not in _SKIP_FILES)
    if not files:
        raise TokenizerError(f"no .json/.jsonl training files under {root}")
    return files


def _strings(obj) -> Iterator[str]:
    """Every string value inside a JSON document, in document order (keys are skipped)."""
    if isinstance(obj, str):
        if obj.strip():
            yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def iter_training_texts(files: Iterable[Path]) -> Iterator[str]:
    for f in files:
        data = f.read_bytes()
        if f.suffix == ".jsonl":
            for line in data.splitlines():
                try:
                    yield from _strings(json.loads(line))
                except ValueError:
                    continue
        else:
            try:
                yield from _strings(json.loads(data))
            except ValueError:
                continue


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE,
                    min_frequency: int = 2):
    """Train a byte-level BPE ``tokenizers.Tokenizer`` on ``texts`` (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  show_progress=False, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer=trainer)
    return tok


def default_tokenizer_path(vocab_size: int = DEFAULT_VOCAB_SIZE,
                           shared_dir: str | os.PathLike | None = None) -> Path:
    """The shipped tokenizer file (no ``shared_dir``), or one trained on ``shared_dir`` and
    cached (trained first when missing)."""
    if shared_dir is None:
        if vocab_size == DEFAULT_VOCAB_SIZE:
            return PACKAGED_TOKENIZER
        raise TokenizerError("a tokenizer of another size needs training data: pass shared_dir=")
    import tokenizers

    files = training_files(shared_dir)
    h = hashlib.sha256(f"v{_FORMAT_VERSION}|{vocab_size}|{tokenizers.__version__}".encode())
    for f in files:
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    out = cache_dir() / f"datamill-bpe-{vocab_size}-{h.hexdigest()[:16]}.json"
    if out.is_file():
        return out
    tok = train_tokenizer(iter_training_texts(files), vocab_size=vocab_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(tok.to_str(), encoding="utf-8")
    os.replace(tmp, out)  # atomic: concurrent workers both train, one file wins, same content
    return out
