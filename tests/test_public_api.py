"""The public API: ``toolkit.__all__`` resolves, matches the type checkers' view, and covers the docs.

Modelled on httpx's ``tests/test_exported_members.py``: every name the README, the docs and the
notebooks import must come from ``toolkit`` itself and be listed in ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import types
from importlib import metadata
from pathlib import Path

import pytest

import toolkit


def test_every_export_is_a_function_class_or_value_even_after_all_submodules_load():
    for module in pkgutil.iter_modules(toolkit.__path__):
        if module.name == "__main__":  # running it would start the CLI
            continue
        importlib.import_module(f"toolkit.{module.name}")  # importing a submodule sets toolkit.<name>
    for name in toolkit.__all__:
        value = getattr(toolkit, name)
        assert not isinstance(value, types.ModuleType), name


def test_exports_come_from_their_modules():
    assert toolkit.simulate is importlib.import_module("toolkit.simulator").simulate
    assert toolkit.sweep is importlib.import_module("toolkit.sweeps").sweep
    assert toolkit.classify is importlib.import_module("toolkit.classifier").classify


def test_every_name_in_all_resolves_and_dir_lists_it():
    assert toolkit.__all__ == sorted(set(toolkit.__all__))
    for name in toolkit.__all__:
        assert getattr(toolkit, name) is not None, name
    assert set(toolkit.__all__) <= set(dir(toolkit))
    with pytest.raises(AttributeError, match="no attribute 'simulator_typo'"):
        toolkit.simulator_typo  # noqa: B018 (the attribute access is the test)


def test_the_runtime_exports_are_exactly_the_type_checking_imports():
    """The line scan in ``toolkit/__init__.py`` agrees with what a type checker reads."""
    tree = ast.parse(Path(toolkit.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    imports = [n for n in block.body if isinstance(n, ast.ImportFrom)]
    static = {alias.asname: (node.module, alias.name) for node in imports for alias in node.names}
    assert all(len(node.names) == 1 and node.names[0].asname for node in imports)  # the format the scan reads
    assert toolkit._EXPORTS == static
    assert toolkit.__all__ == sorted([*static, "__version__"])


def test_version_comes_from_the_package_metadata():
    assert toolkit.__version__ == metadata.version("combined-models")


ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(r"^\s*from (toolkit[\w.]*) import (\([^)]*\)|[^\n#]*)", re.MULTILINE)


def _documents() -> dict[str, str]:
    """README, docs and the code cells of every notebook: where users copy imports from."""
    texts = {p.name: p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        texts[notebook.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return texts


def _imports(text: str) -> list[tuple[str, str]]:
    found = []
    for module, names in IMPORT.findall(text):
        for name in names.strip("()").replace("\n", " ").split(","):
            if name.strip():
                found.append((module, name.split()[0]))
    return found


def test_readme_docs_and_notebooks_import_only_public_names_from_toolkit():
    documents = _documents()
    used = {(doc, module, name) for doc, text in documents.items() for module, name in _imports(text)}
    assert len({name for _, _, name in used}) >= 20  # the scan sees the tour's imports
    assert sorted((doc, f"{module}.{name}") for doc, module, name in used if module != "toolkit") == []
    assert sorted((doc, name) for doc, _, name in used if name not in toolkit.__all__) == []


def test_the_import_scan_reads_parenthesized_and_commented_imports():
    text = "from toolkit import (\n    simulate,\n    sweep,\n)\nfrom toolkit.live import run_live, Timeouts  # why\n"
    assert _imports(text) == [
        ("toolkit", "simulate"),
        ("toolkit", "sweep"),
        ("toolkit.live", "run_live"),
        ("toolkit.live", "Timeouts"),
    ]
