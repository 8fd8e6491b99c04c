"""Notebook templates: committed without outputs, parameters cell tagged, thin (calls, no analysis logic)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from evaluation.dictionary.registry import default_registry

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("domain", default_registry().domain_ids)
def test_template_exists_without_outputs_and_with_parameters(domain):
    nb = nbformat.read(NOTEBOOKS / f"{domain}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "templates are committed without outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in ("site", "data_dir", "intervention_date"):
        assert f"{name} =" in params[0].source
    # Thin notebooks: no function or class definitions, no model fitting in the notebook itself.
    for c in code:
        assert "def " not in c.source and "class " not in c.source
        assert "statsmodels" not in c.source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
