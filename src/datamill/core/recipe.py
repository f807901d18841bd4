"""YAML recipes: validated against the step registry before anything runs.

A recipe maps one-to-one onto the Python API::

    name: fineweb
    steps:
      - extract_html: {backend: datamill}        # ExtractHTML(backend="datamill")
      - language_id: {languages: [en], min_score: 0.65}
    output: {format: jsonl, compression: gz}

Every problem (unknown step, unknown or missing parameter, wrong type, bad YAML) is reported as a
:class:`RecipeError` naming the recipe file and line.

A recipe-level ``llm:`` mapping (endpoint settings, see :mod:`datamill.llm.config`) is merged
under the ``llm`` parameter of every step that has one; a step's own ``llm:`` keys win.
``overrides`` (``datamill run --set STEP.PARAM=VALUE``) replace parameters before validation, so
they are checked exactly like the recipe: ``STEP`` is a step label (``name`` or ``name#2``),
``llm.KEY`` sets the recipe-level block, ``STEP.PARAM.KEY`` one key of a mapping parameter.
"""

from __future__ import annotations

import difflib
import inspect
import keyword
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from datamill.core.errors import RecipeError
from datamill.core.registry import OUTPUT_FORMATS, RECORD_FORMATS, load_object
from datamill.core.step import REGISTRY, STEPS, Step

TOP_LEVEL = {"name", "description", "steps", "output", "input", "llm"}
OUTPUT_KEYS = {"format": str, "compression": str}
INPUT_KEYS = {"format": str, "text_field": str, "id_field": str, "records": str}


@dataclass
class Recipe:
    steps: list[Step]
    name: str = "pipeline"
    description: str = ""
    output: dict[str, Any] = field(default_factory=dict)
    input: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    llm: dict[str, Any] = field(default_factory=dict)


def load_steps_registry() -> None:
    """Fill the step registry: built-in steps (through the loader the package registers) and
    installed packages' ``datamill.steps`` entry points."""
    STEPS.load()


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _mapping(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {k.value: (k, v) for k, v in node.value}


def parse_overrides(pairs: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["self_instruct.num_instructions=30", ...]`` -> ``{"self_instruct.num_instructions": 30}``;
    values are read as YAML scalars/lists (``30`` is an int, ``[a, b]`` a list)."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or "." not in key or not key.split(".", 1)[1]:
            raise RecipeError(f"--set {pair!r}: expected STEP.PARAM=VALUE (for example "
                              f"self_instruct.num_instructions=30)")
        try:
            out[key] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key] = value
    return out


def _apply_override(params: dict[str, Any], dotted: list[str], value: Any) -> None:
    target = params
    for part in dotted[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = {} if nxt is None else nxt
            if not isinstance(nxt, dict):
                raise ValueError(f"{part!r} is not a mapping")
            target[part] = nxt
        target = nxt
    target[dotted[-1]] = value


def parse_recipe(text: str, path: str | None = None, overrides: dict[str, Any] | None = None) -> Recipe:
    # step names resolve one at a time (``STEPS.get``): a recipe imports the modules of its
    # own steps only; an unknown name loads them all for the error's suggestions
    overrides = dict(overrides or {})
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RecipeError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path,
                          mark.line + 1 if mark else None) from None
    if root is None:
        raise RecipeError("recipe is empty: expected a mapping with a 'steps' list", path, 1)
    if not isinstance(root, yaml.MappingNode):
        raise RecipeError("expected a mapping with a 'steps' list at the top", path, _line(root))
    top = _mapping(root)
    for key, (knode, _) in top.items():
        if key not in TOP_LEVEL:
            raise RecipeError(f"unknown top-level key {key!r}: expected one of {sorted(TOP_LEVEL)}",
                              path, _line(knode))
    if "steps" not in top:
        raise RecipeError("missing 'steps': a recipe needs a list of steps", path, _line(root))
    steps_node = top["steps"][1]
    if not isinstance(steps_node, yaml.SequenceNode):
        raise RecipeError("'steps' must be a list", path, _line(steps_node))
    llm_block: dict[str, Any] = {}
    if "llm" in top:
        node = top["llm"][1]
        if not isinstance(node, yaml.MappingNode):
            raise RecipeError("'llm' must be a mapping of endpoint settings (base_url, model, ...)",
                              path, _line(node))
        llm_block = yaml.safe_load(yaml.serialize(node)) or {}
    for key in [k for k in overrides if k.split(".", 1)[0] == "llm"]:
        _apply_override(llm_block, key.split(".")[1:], overrides.pop(key))
    steps = []
    labels: dict[str, int] = {}  # by the name written in the recipe (--set STEP.PARAM)
    bases: dict[str, int] = {}  # by the step's registered name (its label, as Pipeline gives it)
    for item in steps_node.value:
        name = _step_name(item)
        n = labels.get(name, 0)
        labels[name] = n + 1
        label = f"{name}#{n + 1}" if n else name
        mine = {k[len(label) + 1:]: v for k, v in overrides.items() if k.startswith(label + ".")}
        for k in [k for k in overrides if k.startswith(label + ".")]:
            del overrides[k]
        step = build_step_from_node(item, path, llm_defaults=llm_block, overrides=mine)
        base = step.name or type(step).__name__
        nb = bases.get(base, 0)
        bases[base] = nb + 1
        if nb:
            step._label = f"{base}#{nb + 1}"
        steps.append(step)
    if overrides:
        known = ", ".join(["llm"] + [s.label for s in steps])
        raise RecipeError(f"--set {next(iter(overrides))}: no step labelled "
                          f"{next(iter(overrides)).split('.', 1)[0]!r} in this recipe; labels: {known}", path)
    recipe = Recipe(steps=steps, path=path, llm=llm_block)
    if "name" in top:
        recipe.name = str(yaml.safe_load(yaml.serialize(top["name"][1])))
    if "description" in top:
        recipe.description = str(yaml.safe_load(yaml.serialize(top["description"][1])))
    for section, allowed in (("output", OUTPUT_KEYS), ("input", INPUT_KEYS)):
        if section in top:
            node = top[section][1]
            if not isinstance(node, yaml.MappingNode):
                raise RecipeError(f"'{section}' must be a mapping", path, _line(node))
            values = {}
            for key, (knode, vnode) in _mapping(node).items():
                if key not in allowed:
                    raise RecipeError(f"unknown key {key!r} in '{section}': expected one of "
                                      f"{sorted(allowed)}", path, _line(knode))
                values[key] = yaml.safe_load(yaml.serialize(vnode))
            setattr(recipe, section, values)
    _check_output(recipe, path, top)
    _check_input(recipe, path, top)
    return recipe


def _check_input(recipe: Recipe, path: str | None, top: dict) -> None:
    """``input: {records: FMT}`` reads post-training files (alpaca, sharegpt, …) into records."""
    fmt = recipe.input.get("records")
    if fmt is None:
        return
    if fmt not in RECORD_FORMATS:
        raise RecipeError(f"input records {fmt!r}: expected one of {', '.join(RECORD_FORMATS.names())}", path,
                          _line(top["input"][1]))


def _check_output(recipe: Recipe, path: str | None, top: dict) -> None:
    fmt = recipe.output.get("format", "jsonl")
    comp = recipe.output.get("compression", "gz")
    line = _line(top["output"][1]) if "output" in top else None
    compressions = OUTPUT_FORMATS.find(fmt)
    if compressions is None:
        raise RecipeError(f"output format {fmt!r}: expected one of {OUTPUT_FORMATS.names()}", path, line)
    if comp not in compressions:
        raise RecipeError(f"output compression {comp!r}: expected one of {sorted(compressions)}", path, line)


def _step_name(item: yaml.Node) -> str:
    if isinstance(item, yaml.ScalarNode):
        return str(item.value)
    if isinstance(item, yaml.MappingNode) and len(item.value) == 1:
        return str(item.value[0][0].value)
    return ""


def build_step_from_node(item: yaml.Node, path: str | None, *, llm_defaults: dict[str, Any] | None = None,
                         overrides: dict[str, Any] | None = None) -> Step:
    if isinstance(item, yaml.ScalarNode):
        name, params_node, name_node = item.value, None, item
    elif isinstance(item, yaml.MappingNode) and len(item.value) == 1:
        name_node, params_node = item.value[0]
        name = name_node.value
    else:
        raise RecipeError("each step must be `- step_name: {param: value, ...}`", path, _line(item))
    cls = resolve_step(name, path, _line(name_node))
    if cls is None:
        hint = difflib.get_close_matches(name, REGISTRY, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else f"; known steps: {', '.join(sorted(REGISTRY))}"
        raise RecipeError(f"unknown step {name!r}{extra}", path, _line(name_node))
    params: dict[str, Any] = {}
    lines: dict[str, int | None] = {}
    if params_node is not None and not (isinstance(params_node, yaml.ScalarNode) and params_node.value in ("", "null", "~")):
        if not isinstance(params_node, yaml.MappingNode):
            raise RecipeError(f"parameters of step {name!r} must be a mapping", path, _line(params_node))
        for knode, vnode in params_node.value:
            params[knode.value] = yaml.safe_load(yaml.serialize(vnode))
            lines[knode.value] = _line(knode)
    if llm_defaults and "llm" in step_parameters(cls):
        own = params.get("llm")
        if own is not None and not isinstance(own, dict):
            raise RecipeError(f"step {name!r}, parameter 'llm': expected a mapping of endpoint settings",
                              path, lines.get("llm", _line(name_node)))
        params["llm"] = {**llm_defaults, **(own or {})}
    for key, value in (overrides or {}).items():
        try:
            _apply_override(params, key.split("."), value)
        except ValueError as exc:
            raise RecipeError(f"--set {name}.{key}: {exc}", path, _line(name_node)) from None
        lines.setdefault(key.split(".")[0], _line(name_node))
    return build_step(cls, params, path=path, line=_line(name_node), param_lines=lines)


def resolve_step(name: str, path: str | None = None, line: int | None = None) -> type[Step] | None:
    """A step class by registered name, entry point (group ``datamill.steps``) or
    ``package.module:Class``; ``None`` for an unknown name. A ``module:Class`` reference is
    imported with the recipe's folder on the import path, so ``mysteps.py`` beside the recipe
    works."""
    if ":" not in name:
        cls = STEPS.find(name)
        if cls is not None and not cls.__dict__.get("name"):
            cls.name = name  # a class an entry point names, not registered by itself
        return cls
    folder = os.path.dirname(os.path.abspath(path)) if path and "://" not in path else None
    if folder and folder not in sys.path:
        sys.path.append(folder)  # workers inherit it (fork, spawn, Ray's code paths)
    try:
        cls = load_object(name)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"step {name!r} cannot be imported: {type(exc).__name__}: {exc}", path, line) from None
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        raise RecipeError(f"step {name!r} is not a datamill step (a subclass of Transform, Tagger, "
                          f"Filter or GlobalStep)", path, line)
    if not cls.__dict__.get("name"):
        cls.name = name  # an unregistered class is named (in stats, signals) as the recipe names it
    return cls


def step_parameters(cls: type[Step]) -> dict[str, tuple[Any, Any]]:
    """name -> (type hint, default or inspect._empty) for a step class."""
    init = cls.__init__
    sig = inspect.signature(init)
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # noqa: BLE001 - unresolved hints: fall back to no type check
        hints = {}
    out = {}
    for pname, p in sig.parameters.items():
        if pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[pname] = (hints.get(pname, Any), p.default)
    return out


_SCALARS = (bool, int, float, str)


def _already_valid(hint: Any, value: Any) -> bool:
    """True when ``value`` is exactly of type ``hint`` (a scalar, one of a ``Literal``'s values,
    a list of scalars, or one of a union's members, ``None`` for an optional): pydantic would
    return it unchanged, so most recipes build without importing pydantic at all (80 ms of
    every run's start)."""
    if hint is Any:
        return True
    if hint in _SCALARS:
        return type(value) is hint
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if origin is list and len(args) == 1 and args[0] in _SCALARS:
        return type(value) is list and all(type(v) is args[0] for v in value)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return type(None) in args
        return any(_already_valid(a, value) for a in args if a is not type(None))
    return False


def build_step(cls: type[Step], params: dict[str, Any], *, path: str | None = None,
               line: int | None = None, param_lines: dict[str, int | None] | None = None) -> Step:
    param_lines = param_lines or {}
    spec = step_parameters(cls)
    # a parameter named by a Python keyword (``in``) is spelt with a trailing ``_`` in Python
    params = {(f"{k}_" if keyword.iskeyword(k) and f"{k}_" in spec else k): v for k, v in params.items()}
    param_lines = {(f"{k}_" if keyword.iskeyword(k) and f"{k}_" in spec else k): v
                   for k, v in param_lines.items()}
    for key in params:
        if key not in spec:
            hint = difflib.get_close_matches(key, spec, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; expected one of {sorted(spec) or 'none'}"
            raise RecipeError(f"step {cls.name!r} has no parameter {key!r}{extra}", path,
                              param_lines.get(key, line))
    values = {}
    for key, (hint, default) in spec.items():
        if key not in params:
            if default is inspect.Parameter.empty:
                raise RecipeError(f"step {cls.name!r} needs parameter {key!r} ({_type_name(hint)})", path, line)
            continue
        if _already_valid(hint, params[key]):
            value = params[key]
            values[key] = list(value) if type(value) is list else value
            continue
        from pydantic import TypeAdapter, ValidationError

        try:
            values[key] = TypeAdapter(hint).validate_python(params[key], strict=False)
        except ValidationError as exc:
            msg = exc.errors()[0].get("msg", str(exc))
            raise RecipeError(f"step {cls.name!r}, parameter {key!r}: expected {_type_name(hint)}, "
                              f"got {params[key]!r} ({msg})", path, param_lines.get(key, line)) from None
    if path:
        for key in getattr(cls, "path_params", ()):
            if key in values:
                values[key] = _relative_to_recipe(values[key], path)
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"step {cls.name!r}: {exc}", path, line) from None


def _relative_to_recipe(value: Any, recipe_path: str) -> Any:
    """A relative local path (or list of them) in a recipe, made relative to the recipe's folder."""
    import os

    if isinstance(value, list):
        return [_relative_to_recipe(v, recipe_path) for v in value]
    if not isinstance(value, str) or not value or "://" in value or "://" in recipe_path:
        return value
    value = os.path.expanduser(value)
    if os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(recipe_path)), value))


def preflight(steps, path: str | None = None) -> None:
    """Every step's :meth:`~datamill.core.step.Step.preflight`; a failure becomes a
    :class:`RecipeError` naming the step (and the recipe file, when given)."""
    steps = list(steps)
    for i, step in enumerate(steps):
        try:
            step.preflight()
            step.check_pipeline(steps, i)
        except RecipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with the step's label
            raise RecipeError(f"step {step.label!r} cannot run: {exc}", path) from None


def _type_name(hint: Any) -> str:
    if hint is Any:
        return "any value"
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    return text or str(hint).replace("typing.", "")


def load_recipe(path: str, overrides: dict[str, Any] | None = None) -> Recipe:
    import fsspec

    try:
        with fsspec.open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise RecipeError("recipe file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe: {exc}", path) from None
    return parse_recipe(text, path, overrides)


def recipe_to_yaml(recipe: Recipe) -> str:
    """The recipe written back as YAML (the Python API's mirror image)."""
    doc: dict[str, Any] = {"name": recipe.name}
    if recipe.description:
        doc["description"] = recipe.description
    doc["steps"] = [{s.name: {(k[:-1] if keyword.iskeyword(k[:-1]) else k): v for k, v in s.params.items()}}
                     for s in recipe.steps]
    if recipe.output:
        doc["output"] = recipe.output
    if recipe.input:
        doc["input"] = recipe.input
    if recipe.llm:
        doc["llm"] = recipe.llm
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
