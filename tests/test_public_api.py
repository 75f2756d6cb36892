"""The names ``toolkit`` exports resolve to the functions and classes, never to a submodule."""

from __future__ import annotations

import importlib
import pkgutil
import types

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
