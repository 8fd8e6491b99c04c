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


def test_the_domain_notebooks_run_the_same_code_but_for_their_domain():
    """One domain notebook executed stands for all three: their code cells differ only in the DOMAIN line."""
    def code(domain: str) -> list[str]:
        nb = nbformat.read(NOTEBOOKS / f"{domain}.ipynb", as_version=4)
        return [c.source.replace(f'DOMAIN = "{domain}"', "DOMAIN = ...") for c in nb.cells if c.cell_type == "code"]

    domains = default_registry().domain_ids
    assert len(domains) >= 2
    assert all("DOMAIN = ..." in "".join(code(d)) for d in domains)
    first = code(domains[0])
    assert all(code(d) == first for d in domains[1:])


@pytest.mark.e2e
def test_a_domain_notebook_run_from_the_notebooks_folder_shows_its_charts_and_headline(demo_data, tmp_path):
    """As an evaluator would run it (papermill from notebooks/, or JupyterLab): the charts are image outputs and
    the headline sentence is an output, not only glued for the site. Staff retention: the domain notebook with
    the fewest charts; the three run the same code (the test above)."""
    import papermill as pm

    from evaluation.results.files import read_result

    build = tmp_path / "build"
    out = tmp_path / "staff_retention.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "staff_retention.ipynb"), str(out), cwd=str(NOTEBOOKS), progress_bar=False,
                        kernel_name="python3", parameters={"site": "bradford", "build_dir": str(build),
                                                           "data_dir": str(demo_data)})
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for o in outputs if {"image/png", "image/svg+xml"} & set(o.get("data", {}))]
    assert len(images) >= 4  # SPC and model charts at least
    headline = read_result(build / "results" / "bradford" / "staff_retention.json").headline.findings.headline
    texts = [o.data.get("text/markdown", "") + o.data.get("text/plain", "") for o in outputs if "data" in o]
    assert any(headline.split(" (")[0] in t for t in texts), headline
