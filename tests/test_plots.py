"""kit.plots: each helper draws what it is given, once, and rejects what it cannot draw."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from kit import plots  # noqa: E402
from kit.paths import ROOT  # noqa: E402


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    plt.close("all")


def test_image_grid_draws_every_image_with_its_label():
    images = np.stack([np.full((4, 4), v) for v in (0.1, 0.5, 0.9)])
    fig = plots.image_grid(images, ["a", "b", "c"], ncols=2, title="three", cmap="gray_r", vmin=0, vmax=1)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 4 and len(drawn) == 3  # 2x2 grid, the last cell empty
    assert [ax.get_title() for ax in drawn] == ["a", "b", "c"]
    assert drawn[1].images[0].get_array().mean() == pytest.approx(0.5)
    assert drawn[0].images[0].get_clim() == (0, 1) and drawn[0].images[0].get_cmap().name == "gray_r"
    assert fig._suptitle.get_text() == "three"
    with pytest.raises(ValueError, match="no images"):
        plots.image_grid([])


def test_bars_draws_each_value_and_greys_the_baseline():
    fig = plots.bars({"baseline": 0.5, "ours": 0.75}, title="t", ylabel="accuracy", baseline="baseline")
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [0.5, 0.75]
    assert ax.patches[0].get_facecolor() != ax.patches[1].get_facecolor()
    assert [t.get_text() for t in ax.texts] == ["0.5", "0.75"] and ax.get_ylabel() == "accuracy"


def test_scatter_2d_one_series_per_label_and_wrong_shape():
    fig = plots.scatter_2d(np.arange(12.0).reshape(6, 2), [0, 1, 0, 1, 2, 2])
    assert len(fig.axes[0].collections) == 3
    assert sorted(len(c.get_offsets()) for c in fig.axes[0].collections) == [2, 2, 2]
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plots.scatter_2d(np.zeros((5, 3)), np.zeros(5))


@pytest.mark.parametrize("draw", [lambda: plots.image_grid(np.zeros((2, 4, 4))), lambda: plots.bars({"a": 1.0}),
                                  lambda: plots.scatter_2d(np.zeros((3, 2)), [0, 1, 2])])
def test_helpers_leave_no_open_figure(draw):
    """An open figure is drawn again by Jupyter's inline backend at the end of the cell: two copies."""
    assert draw().axes and plt.get_fignums() == []


def test_a_plot_as_the_last_expression_shows_once_in_a_notebook():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "%matplotlib inline\nfrom kit import plots\nplots.bars({'a': 1.0, 'b': 2.0})"),
        nbformat.v4.new_code_cell("fig = plots.image_grid([[[0.0, 1.0]]])\ndisplay(fig)")])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    for cell in nb.cells:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"{len(images)} images from: {cell.source!r}"
