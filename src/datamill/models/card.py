"""The model card written beside every model datamill trains (``MODEL.card.json``).

It records what the model is (kind, backend, labels), what it was trained on (each source with
its sha256), the parameters, the held-out metrics and the datamill version, so a model file
found later can be traced and compared. Loaders read it to know the model's kind.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

import orjson

from datamill.core.errors import InputError
from datamill.io.atomic import atomic_write_bytes


class ModelFileError(InputError, ValueError):
    """A model path that does not exist or holds another kind of model (a ``ValueError`` too,
    so a recipe naming it is reported with the recipe's line)."""


def card_path(model_path: str) -> str:
    return f"{model_path}.card.json"


def write_card(model_path: str, card: dict[str, Any]) -> str:
    from datamill import __version__

    doc = {"model": os.path.basename(model_path), "datamill_version": __version__,
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **card}
    path = card_path(model_path)
    atomic_write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
                                          default=str))
    return path


def read_card(model_path: str, expected_kind: str | None = None) -> dict[str, Any]:
    """The card of ``model_path``; a missing model, a missing card or a card of another kind is
    a one-line :class:`InputError` naming the path and the expected kind."""
    want = expected_kind or "datamill model"
    if not os.path.exists(model_path):
        raise ModelFileError(f"model {model_path}: no such file (expected a {want} written by datamill)")
    path = card_path(model_path)
    if not os.path.exists(path):
        raise ModelFileError(f"model {model_path}: no model card {os.path.basename(path)} beside it "
                         f"(expected a {want} written by datamill)")
    try:
        with open(path, "rb") as fh:
            card = orjson.loads(fh.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ModelFileError(f"model card {path}: not readable JSON ({exc})") from None
    if expected_kind and card.get("kind") != expected_kind:
        raise ModelFileError(f"model {model_path} is a {card.get('kind')!r} model: expected a {expected_kind}")
    return card
