"""A small, readable training loop for torch models, with progress bars and a live plot.

    history = train.fit(model, (X_train, y_train), (X_val, y_val), epochs=5, lr=1e-3)
    history.plot()

`fit` is the classic loop (forward, loss, backward, step) written out once so lessons need not
repeat it; `LivePlot` redraws the curves after every epoch in JupyterLab and shows one final
figure when run headless (CI, `python -m kit run`).
"""
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from kit import device as kit_device

__all__ = ["History", "LivePlot", "as_loader", "fit", "evaluate", "predict", "SmallCNN", "count_params"]


@dataclass
class History:
    """One dict per epoch: epoch, train_loss, train_acc, val_loss, val_acc, seconds."""
    rows: list = field(default_factory=list)

    def __getitem__(self, key):
        return [row.get(key) for row in self.rows]

    def last(self, key):
        return self.rows[-1][key] if self.rows else None

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def plot(self, title: str = ""):
        """A static figure of loss and accuracy per epoch (train vs validation)."""
        return LivePlot(title=title, live=False).draw(self.rows)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:
        return False


def _interactive() -> bool:
    """True inside a Jupyter kernel that a person is watching (not CI, not `kit run`)."""
    if os.environ.get("KIT_HEADLESS") == "1" or not _in_ipython():
        return False
    from IPython import get_ipython

    return "IPKernelApp" in get_ipython().config


class LivePlot:
    """Loss and accuracy curves that redraw in place as training runs.

    Call `update(row)` with a dict such as {"epoch": 3, "train_loss": .4, "val_acc": .9};
    keys ending in `loss` go to the left panel, keys ending in `acc` to the right one.
    """

    def __init__(self, title: str = "", live: bool | None = None):
        self.title = title
        self.live = _interactive() if live is None else live
        self.rows: list = []
        self._handle = None

    def draw(self, rows):
        import matplotlib.pyplot as plt

        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
        epochs = [row["epoch"] for row in rows]
        for key in sorted({k for row in rows for k in row}):
            values = [row.get(key) for row in rows]
            target = ax_loss if key.endswith("loss") else ax_acc if key.endswith("acc") else None
            if target is not None and any(v is not None for v in values):
                target.plot(epochs, values, marker="o", label=key)
        ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        for ax in (ax_loss, ax_acc):
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        plt.close(fig)
        return fig

    def update(self, row: dict):
        self.rows.append(dict(row))
        if not self.live:
            return
        from IPython.display import display

        fig = self.draw(self.rows)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)

    def finish(self):
        """Show the final figure (headless runs show only this one)."""
        if self.rows and not self.live and _in_ipython():
            from IPython.display import display

            display(self.draw(self.rows))


def as_loader(data, batch_size: int = 64, shuffle: bool = False, seed: int = 0):
    """Accept a DataLoader, a Dataset, or an (X, y) pair of arrays/tensors and return a DataLoader."""
    if isinstance(data, torch.utils.data.DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = (torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v for v in data)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}: they must match")
        if len(X) == 0:
            raise ValueError("cannot train or evaluate on an empty dataset")
        data = torch.utils.data.TensorDataset(X.float() if X.is_floating_point() else X, y)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


def _accuracy(logits, y):
    if logits.ndim == 1 or logits.shape[-1] == 1 or y.is_floating_point():
        return None
    return (logits.argmax(-1) == y).float().sum().item()


def evaluate(model: nn.Module, data, loss_fn=None, batch_size: int = 256) -> dict:
    """Mean loss and accuracy of `model` on `data` (no gradients, eval mode)."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    dev = next(model.parameters()).device
    model.eval()
    total, loss_sum, correct = 0, 0.0, 0.0
    with torch.no_grad():
        for X, y in as_loader(data, batch_size):
            X, y = X.to(dev), y.to(dev)
            logits = model(X)
            loss_sum += loss_fn(logits, y).item() * len(y)
            hits = _accuracy(logits, y)
            correct = None if hits is None or correct is None else correct + hits
            total += len(y)
    return {"loss": loss_sum / total, "acc": None if correct is None else correct / total}


def predict(model: nn.Module, X, batch_size: int = 256) -> np.ndarray:
    """Class predictions (argmax of the logits) for an array or tensor of inputs."""
    dev = next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X)) if not isinstance(X, torch.Tensor) else X
    model.eval()
    with torch.no_grad():
        return torch.cat([model(X[i:i + batch_size].to(dev)).argmax(-1).cpu()
                          for i in range(0, len(X), batch_size)]).numpy()


def fit(model: nn.Module, train_data, val_data=None, *, epochs: int = 5, lr: float = 1e-3,
        batch_size: int = 64, optimizer=None, loss_fn=None, weight_decay: float = 0.0,
        live: bool | None = None, progress: bool = True, plot: bool = True, title: str = "",
        seed: int = 0) -> History:
    """Train `model` with Adam (or `optimizer`) and return a `History` of losses and accuracies.

    `train_data` / `val_data` are (X, y) pairs, Datasets or DataLoaders. Each epoch is the classic
    loop: forward pass, loss, backward pass, optimiser step; then one pass over the validation set.
    `plot=False` and `progress=False` train silently (e.g. many small models in a loop).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if lr <= 0:
        raise ValueError(f"the learning rate must be positive, got {lr}")
    dev = kit_device.get() if next(model.parameters()).device.type == "cpu" else next(model.parameters()).device
    model.to(dev)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loader = as_loader(train_data, batch_size, shuffle=True, seed=seed)
    chart, history = LivePlot(title=title, live=live if plot else False), History()
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        seen, loss_sum, correct = 0, 0.0, 0.0
        for X, y in loader:
            X, y = X.to(dev), y.to(dev)
            optimizer.zero_grad()
            logits = model(X)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            hits = _accuracy(logits.detach(), y)
            correct = None if hits is None or correct is None else correct + hits
            seen += len(y)
        row = {"epoch": epoch, "train_loss": loss_sum / seen,
               "train_acc": None if correct is None else correct / seen}
        if val_data is not None:
            scores = evaluate(model, val_data, loss_fn)
            row.update(val_loss=scores["loss"], val_acc=scores["acc"])
        row["seconds"] = time.perf_counter() - start
        history.rows.append(row)
        if plot:
            chart.update(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k != "epoch" and v is not None})
    bar.close()
    chart.finish()
    return history


# --- the small image model several lessons train ----------------------------------------------------

class SmallCNN(nn.Module):
    """Conv blocks `conv1, conv2, ...` (conv -> ReLU -> 2x2 max-pool, one per entry of `channels`), then
    `fc1 -> ReLU -> fc2` (or one `fc2` when `hidden` is None). Input (n, H, W) or (n, 1, H, W) grey images.

    `grid` average-pools the last feature map to grid x grid before the classifier, so the classifier's
    size does not depend on the depth; without it the map is flattened as is (7x7 after two blocks on
    28x28 digits). Lesson 07 searches over the shape, lesson 09 prunes and distils a fixed one.
    """

    def __init__(self, channels=(32, 64), hidden: int | None = 128, n_classes: int = 10, kernel: int = 3,
                 grid: int | None = None, dropout: float = 0.0, size: int = 28):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1 or kernel % 2 == 0:
            raise ValueError(f"need at least one block, channels >= 1 and an odd kernel, got {channels}, {kernel}")
        self.channels, self.grid, self.n_blocks = channels, grid, len(channels)
        for i, (c_in, c_out) in enumerate(zip((1,) + channels, channels), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2))
            size = -(-size // 2)  # ceil: the max-pool keeps a last odd row
        flat = channels[-1] * (grid * grid if grid else size * size)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(flat, hidden) if hidden else None
        self.fc2 = nn.Linear(hidden or flat, n_classes)

    def forward(self, x):
        x = x.unsqueeze(1) if x.ndim == 3 else x
        for i in range(1, self.n_blocks + 1):
            x = nn.functional.max_pool2d(nn.functional.relu(getattr(self, f"conv{i}")(x)), 2, ceil_mode=True)
        if self.grid:
            x = nn.functional.adaptive_avg_pool2d(x, self.grid)
        x = self.dropout(x.flatten(1))
        return self.fc2(nn.functional.relu(self.fc1(x)) if self.fc1 is not None else x)


def count_params(model: nn.Module) -> int:
    """All parameters of a model, trainable or not."""
    return sum(p.numel() for p in model.parameters())
