"""Registries: how the layers above core plug into it without core naming them.

Core defines what a step, a pipeline and a recipe are; readers and output formats (``io``),
executors (``exec``), post-training record formats (``post``) and steps (``steps``, or a
user's package) *register themselves* here. A registry is filled three ways:

* the providing module calls ``REG.register(name, obj)`` when it is imported;
* ``REG.add_loader("some.module")`` names a module to import on the first lookup that misses
  (the package façade, ``datamill/__init__.py``, adds the built-in ones, so ``import datamill``
  stays cheap and core imports nothing above it);
* ``REG.add_index(provider)`` names a callable returning ``{name: module}`` for names whose
  module can be imported alone (a recipe that names three steps imports three modules, not
  every provider: the serial start of a run);
* installed packages declare entry points in the group ``datamill.<kind>``
  (``[project.entry-points."datamill.steps"] min_length = "mysteps:MinLength"``), loaded on
  the first lookup that misses.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """name -> object, filled by registration, loader modules and entry points."""

    def __init__(self, kind: str, items: dict[str, T] | None = None):
        self.kind = kind
        self.group = f"datamill.{kind}"
        self._items: dict[str, T] = items if items is not None else {}
        self._loaders: list[str | Callable[[], Any]] = []
        self._loaded = 0
        self._index_providers: list[Callable[[], dict[str, str]]] = []
        self._index: dict[str, str] | None = None
        self._entry_points_loaded = False
        self._lock = threading.RLock()

    # --- filling -------------------------------------------------------------------------
    def register(self, name: str, obj: T | None = None, *, replace: bool = False):
        """Register ``obj`` under ``name``; without ``obj``, a decorator."""
        if obj is None:
            def deco(o: T) -> T:
                self.register(name, o, replace=replace)
                return o
            return deco
        current = self._items.get(name)
        if current is not None and current is not obj and not replace:
            raise ValueError(f"{self.kind} name {name!r} registered twice")
        self._items[name] = obj
        return obj

    def add_loader(self, loader: str | Callable[[], Any]) -> None:
        """A module name (or a callable) that registers more entries when imported/called."""
        with self._lock:
            if loader not in self._loaders:
                self._loaders.append(loader)

    def add_index(self, provider: Callable[[], dict[str, str]]) -> None:
        """A callable returning ``{name: module}``: a lookup of one of those names imports that
        module only (it must register the name) instead of running every loader."""
        with self._lock:
            self._index_providers.append(provider)
            self._index = None

    def _from_index(self, name: str) -> None:
        with self._lock:
            if self._index is None:
                index: dict[str, str] = {}
                for provider in self._index_providers:
                    index.update(provider())
                self._index = index
            module = self._index.get(name)
        if module is not None:
            importlib.import_module(module)

    def _run_loaders(self) -> None:
        with self._lock:
            while self._loaded < len(self._loaders):
                loader = self._loaders[self._loaded]
                self._loaded += 1
                if isinstance(loader, str):
                    importlib.import_module(loader)
                else:
                    loader()

    def load(self) -> None:
        """Run the loaders not run yet, then the entry points (once)."""
        self._run_loaders()
        with self._lock:
            if not self._entry_points_loaded:
                self._entry_points_loaded = True
                from importlib import metadata  # 30-50 ms to import: only when plugins are looked up

                for ep in metadata.entry_points(group=self.group):
                    if ep.name in self._items:
                        continue
                    obj = ep.load()
                    if ep.name not in self._items:  # loading may have registered it
                        self._items[ep.name] = obj

    # --- lookup --------------------------------------------------------------------------
    def get(self, name: str) -> T:
        if name not in self._items and self._index_providers:
            self._from_index(name)
        if name not in self._items:
            self._run_loaders()
        if name not in self._items:
            # plugins only for a name nothing built in has (a built-in name always wins over a
            # plugin's, so the answer is the same; the scan of every installed package's
            # metadata costs 20-40 ms)
            self.load()
        try:
            return self._items[name]
        except KeyError:
            hint = difflib.get_close_matches(name, list(self._items), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(sorted(self._items)) or 'none'}"
            raise RegistryError(f"unknown {self.kind.rstrip('s')} {name!r}{extra}") from None

    def find(self, name: str) -> T | None:
        try:
            return self.get(name)
        except RegistryError:
            return None

    def names(self) -> list[str]:
        self.load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def load_object(reference: str) -> Any:
    """``package.module:Name`` (or ``package.module.Name``) -> the object."""
    module, sep, attr = reference.partition(":")
    if not sep:
        module, _, attr = reference.rpartition(".")
    if not module or not attr:
        raise ImportError(f"{reference!r}: expected 'module:Name'")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


#: executor classes: ``cls(workers=, address=, progress=)`` with ``run(plan) -> markers``
EXECUTORS: Registry[Any] = Registry("executors")
#: the pipeline runner (``plan_pipeline``, ``run_pipeline``): how a Pipeline becomes tasks
RUNNERS: Registry[Any] = Registry("runners")
#: output formats: name -> the compressions it accepts
OUTPUT_FORMATS: Registry[tuple[str, ...]] = Registry("output_formats")
#: post-training record formats an input may be read as (``input: {records: alpaca}``)
RECORD_FORMATS: Registry[Any] = Registry("record_formats")
