"""core and text import nothing above them, not even lazily (DESIGN.md's layering)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "datamill"
HIGHER = {"core": ("io", "exec", "steps", "post", "embed", "llm", "catalog", "report", "annotate", "cli"),
          "text": ("core", "io", "exec", "steps", "post", "embed", "llm", "catalog", "report", "annotate", "cli"),
          "exec": ("catalog", "report", "annotate", "cli")}


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("layer", sorted(HIGHER))
def test_layer_imports_nothing_above_it(layer):
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for line, module in imports(path):
            parts = module.split(".")
            if parts[0] == "datamill" and len(parts) > 1 and parts[1] in HIGHER[layer]:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_executors_and_formats_are_found_through_the_registries():
    from datamill.core.registry import EXECUTORS, OUTPUT_FORMATS, RECORD_FORMATS
    from datamill.exec.local import LocalExecutor

    assert EXECUTORS.get("local") is LocalExecutor and "ray" in EXECUTORS.names()
    assert "parquet" in OUTPUT_FORMATS and "zst" in OUTPUT_FORMATS.get("jsonl")
    assert "alpaca" in RECORD_FORMATS
