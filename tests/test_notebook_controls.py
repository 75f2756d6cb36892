"""Notebook 3's controls in a real headless kernel, three times in a row: they must finish every time.

nbval runs each notebook once; a hang that shows up one run in three needs repeated runs in
fresh kernels. Only the cells up to the controls run here (the sweep below them is nbval's job).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_priority_tradeoffs.ipynb"
CELL_TIMEOUT_S = 600  # generous for a loaded machine: the point is finishing, not speed


def _controls_part() -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    widget_cell = next(i for i in code if "explorer.widget(" in notebook.cells[i].source)
    notebook.cells = notebook.cells[: widget_cell + 1]
    return notebook


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_controls_finish_in_a_fresh_headless_kernel(attempt, tmp_path):
    notebook = _controls_part()
    NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = notebook.cells[-1].outputs
    assert [o.output_type for o in outputs] == ["execute_result"]
    view = outputs[0].data["application/vnd.jupyter.widget-view+json"]
    state = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    box = state[view["model_id"]]["state"]
    kinds = [state[child.removeprefix("IPY_MODEL_")]["model_name"] for child in box["children"]]
    assert kinds == [
        "DropdownModel",
        "ToggleButtonsModel",
        "IntSliderModel",
        "DropdownModel",
        "DropdownModel",
        "HTMLModel",
        "ImageModel",
    ]
