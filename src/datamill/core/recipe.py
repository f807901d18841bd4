"""YAML recipes: validated against the step registry before anything runs.

A recipe maps one-to-one onto the Python API::

    name: fineweb
    steps:
      - extract_html: {backend: datamill}        # ExtractHTML(backend="datamill")
      - language_id: {languages: [en], min_score: 0.65}
    output: {format: jsonl, compression: gz}

Every problem (unknown step, unknown or missing parameter, wrong type, bad YAML) is reported as a
:class:`RecipeError` naming the recipe file and line.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from datamill.core.errors import RecipeError
from datamill.core.step import REGISTRY, Step

TOP_LEVEL = {"name", "description", "steps", "output", "input"}
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


def load_steps_registry() -> None:
    """Import every built-in step module so the registry is complete."""
    import datamill.steps  # noqa: F401  (its __init__ imports the step modules)


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _mapping(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {k.value: (k, v) for k, v in node.value}


def parse_recipe(text: str, path: str | None = None) -> Recipe:
    load_steps_registry()
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
    steps = []
    labels: dict[str, int] = {}
    for item in steps_node.value:
        step = build_step_from_node(item, path)
        n = labels.get(step.name, 0)
        labels[step.name] = n + 1
        if n:
            step._label = f"{step.name}#{n + 1}"
        steps.append(step)
    recipe = Recipe(steps=steps, path=path)
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
    from datamill.post.formats import RECORD_FORMATS

    if fmt not in RECORD_FORMATS:
        raise RecipeError(f"input records {fmt!r}: expected one of {', '.join(RECORD_FORMATS)}", path,
                          _line(top["input"][1]))


def _check_output(recipe: Recipe, path: str | None, top: dict) -> None:
    from datamill.io.writers import COMPRESSIONS, FORMATS

    fmt = recipe.output.get("format", "jsonl")
    comp = recipe.output.get("compression", "gz")
    line = _line(top["output"][1]) if "output" in top else None
    if fmt not in FORMATS:
        raise RecipeError(f"output format {fmt!r}: expected one of {sorted(FORMATS)}", path, line)
    if comp not in COMPRESSIONS:
        raise RecipeError(f"output compression {comp!r}: expected one of {sorted(COMPRESSIONS)}", path, line)


def build_step_from_node(item: yaml.Node, path: str | None) -> Step:
    if isinstance(item, yaml.ScalarNode):
        name, params_node, name_node = item.value, None, item
    elif isinstance(item, yaml.MappingNode) and len(item.value) == 1:
        name_node, params_node = item.value[0]
        name = name_node.value
    else:
        raise RecipeError("each step must be `- step_name: {param: value, ...}`", path, _line(item))
    cls = REGISTRY.get(name)
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
    return build_step(cls, params, path=path, line=_line(name_node), param_lines=lines)


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


def build_step(cls: type[Step], params: dict[str, Any], *, path: str | None = None,
               line: int | None = None, param_lines: dict[str, int | None] | None = None) -> Step:
    from pydantic import TypeAdapter, ValidationError

    param_lines = param_lines or {}
    spec = step_parameters(cls)
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


def preflight(steps) -> None:
    """Every step's :meth:`~datamill.core.step.Step.preflight`; a failure becomes a
    :class:`RecipeError` naming the step."""
    for step in steps:
        try:
            step.preflight()
        except RecipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with the step's label
            raise RecipeError(f"step {step.label!r} cannot run: {exc}") from None


def _type_name(hint: Any) -> str:
    if hint is Any:
        return "any value"
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    return text or str(hint).replace("typing.", "")


def load_recipe(path: str) -> Recipe:
    import fsspec

    try:
        with fsspec.open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise RecipeError("recipe file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe: {exc}", path) from None
    return parse_recipe(text, path)


def recipe_to_yaml(recipe: Recipe) -> str:
    """The recipe written back as YAML (the Python API's mirror image)."""
    doc: dict[str, Any] = {"name": recipe.name}
    if recipe.description:
        doc["description"] = recipe.description
    doc["steps"] = [{s.name: s.params} for s in recipe.steps]
    if recipe.output:
        doc["output"] = recipe.output
    if recipe.input:
        doc["input"] = recipe.input
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
