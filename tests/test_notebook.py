"""notebooks/colab.ipynb runs from top to bottom (on tiny settings), so that it cannot rot."""
import os

import pytest

from conftest import REPO

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")


def test_the_notebook_runs_both_scripts_and_shows_their_figures(tmp_path):
    notebook = nbformat.read(os.path.join(REPO, "notebooks", "colab.ipynb"), as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    parameters.source = "\n".join([
        'REPOSITORY = ""', "INSTALL = False", 'DATA = "sample"',
        'AUTOENCODER = "--limit 300 --layers 2 --filters 4,8 --epochs 1 --batch-size 32"',
        'CLASSIFIER = "--limit 300 --fc-units 16 --epochs 1 --fine-tune-epochs 1 --batch-size 32"',
        f'OUT = "{tmp_path / "out"}"'])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": REPO}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 7  # loss, reconstructions, curves, and the four test figures
    text = "".join(output.get("text", "") for output in outputs)
    assert "test accuracy" in text and "errors in 1000 images" in text
    assert (tmp_path / "out" / "classifier.h5").exists()
