"""Small plotting helpers shared by the lessons.

Each returns its matplotlib Figure already closed: as a cell's last expression Jupyter shows it once (an
open figure would also be drawn by the inline backend at the end of the cell: two copies), and
`display(fig)` shows it anywhere else in a cell.
"""
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["image_grid", "scatter_2d", "bars"]


def image_grid(images, labels=None, ncols: int = 10, size: float = 1.0, title: str = "", cmap: str = "gray",
               vmin=None, vmax=None):
    """A grid of greyscale (n, h, w) or colour (n, h, w, 3) images with optional labels above each;
    greyscale ones use `cmap` (e.g. "gray_r": dark ink on white) scaled to [vmin, vmax] when given."""
    images = [np.asarray(image) for image in images]
    n = len(images)
    if n == 0:
        raise ValueError("no images to show: image_grid needs at least one image")
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap if images[i].ndim == 2 else None, vmin=vmin, vmax=vmax)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def scatter_2d(points, labels, title: str = "", legend_title: str = "label"):
    """A 2-D scatter (e.g. a PCA or t-SNE projection) coloured by label."""
    points, labels = np.asarray(points), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"scatter_2d needs points of shape (n, 2), got {points.shape}")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for value in np.unique(labels):
        mask = labels == value
        ax.scatter(points[mask, 0], points[mask, 1], s=6, alpha=0.7, label=str(value))
    ax.legend(title=legend_title, markerscale=3, fontsize=7, loc="best", ncol=2)
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def bars(values: dict, title: str = "", ylabel: str = "", baseline: str | None = None):
    """A bar chart comparing named results; the `baseline` bar is drawn in grey."""
    names = list(values)
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(names)), 3.2))
    colours = ["tab:gray" if name == baseline else "tab:blue" for name in names]
    ax.bar(names, [values[n] for n in names], color=colours)
    for i, name in enumerate(names):
        ax.text(i, values[name], f"{values[name]:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    plt.close(fig)
    return fig
