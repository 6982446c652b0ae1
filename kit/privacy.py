"""Privacy-aware training: client shards, a small MNIST model, DP-SGD with Opacus, membership inference.

    shards = privacy.partition(d.y_train, n_clients=10, alpha=0.3)   # Dirichlet label skew
    model = privacy.make_model()                                     # a tiny MLP on 28x28 digits
    acc, eps = privacy.train_dp(d, target_epsilon=3.0)               # Opacus PrivacyEngine inside
    privacy.mia_advantage(model, members, non_members)               # loss-threshold attack

The federated side (Flower apps, simulation, SecAgg+, the deployment engine) is in `kit.federated`.
"""
import math

import numpy as np
import torch
from torch import nn

__all__ = ["DELTA", "partition", "label_mix", "make_model", "local_train", "accuracy", "train_local_only",
           "weighted_average", "noise_for_epsilon", "train_dp", "sample_losses", "mia_advantage",
           "mia_roc", "dp_advantage_bound", "null_advantage",
           "plot_label_mix", "plot_rounds", "plot_dp_curve", "plot_server_view"]

DELTA = 1e-5  # the delta of (epsilon, delta)-DP used throughout the lesson


# --- splitting data between clients -----------------------------------------------------------

def partition(y, n_clients: int, alpha: float | None = None, sizes: str = "equal", seed: int = 0) -> list:
    """Split sample indices between `n_clients`: IID (`alpha=None`) or Dirichlet label skew.

    With `alpha`, each class is spread over the clients in proportions drawn from Dirichlet(alpha):
    small alpha (0.1) gives each client a few classes, large alpha (100) is close to IID.
    `sizes="skewed"` (IID only) gives clients very different amounts of data, like real devices.
    Returns a list of index arrays, one per client; every client gets at least one sample.
    """
    y = np.asarray(y)
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1, got {n_clients}")
    if n_clients > len(y):
        raise ValueError(f"more clients ({n_clients}) than samples ({len(y)}): every client needs data")
    if alpha is not None and alpha <= 0:
        raise ValueError(f"the Dirichlet alpha must be positive (small = skewed), got {alpha}")
    rng = np.random.default_rng(seed)
    if alpha is None:
        order = rng.permutation(len(y))
        if sizes == "skewed":
            weights = rng.lognormal(0.0, 1.0, n_clients)
            cuts = (np.cumsum(weights / weights.sum())[:-1] * len(y)).astype(int)
            parts = np.split(order, cuts)
        else:
            parts = np.array_split(order, n_clients)
    else:
        parts = [[] for _ in range(n_clients)]
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            cuts = (np.cumsum(rng.dirichlet(alpha * np.ones(n_clients)))[:-1] * len(members)).astype(int)
            for client, chunk in enumerate(np.split(members, cuts)):
                parts[client].extend(chunk.tolist())
        parts = [np.array(p, dtype=np.int64) for p in parts]
    parts = _no_empty(parts, rng)
    return [np.sort(p) for p in parts]


def _no_empty(parts, rng):
    """Give an empty client one sample from the largest client (rare with tiny alpha)."""
    parts = [np.asarray(p, dtype=np.int64) for p in parts]
    for i, p in enumerate(parts):
        if len(p) == 0:
            big = int(np.argmax([len(q) for q in parts]))
            parts[i], parts[big] = parts[big][-1:], parts[big][:-1]
    return parts


def label_mix(y, parts, n_classes: int = 10) -> np.ndarray:
    """A (clients x classes) table of how many samples of each class every client holds."""
    y = np.asarray(y)
    return np.stack([np.bincount(y[p], minlength=n_classes) for p in parts])


# --- the model and its training --------------------------------------------------------------

def make_model(hidden: int = 64, seed: int = 0) -> nn.Module:
    """A tiny MLP for 28x28 digits (51k parameters): small enough for Ray, Opacus and 2 cores."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def _tensors(X, y):
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if len(X) == 0:
        raise ValueError("this client has no data: give every client at least one sample")
    return X, y


def local_train(model: nn.Module, X, y, epochs: int = 1, lr: float = 0.05, batch_size: int = 32,
                proximal_mu: float = 0.0, seed: int = 0) -> float:
    """Train `model` in place with SGD on one client's data; return the mean loss of the last epoch.

    With `proximal_mu > 0` the loss gets FedProx's term mu/2 * ||w - w_global||^2, which keeps a
    client that trains for many epochs on skewed data from drifting far from the global model.
    """
    X, y = _tensors(X, y)
    anchor = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        total = 0.0
        for batch in torch.randperm(len(X), generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X[batch]), y[batch])
            if proximal_mu > 0:
                loss = loss + proximal_mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
    return total / len(X)


def accuracy(model: nn.Module, X, y) -> float:
    """Accuracy of `model` on (X, y)."""
    X, y = _tensors(X, y)
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(-1) == y).float().mean().item()


def train_local_only(d, parts, epochs: int = 20, lr: float = 0.05) -> list:
    """Each client trains alone on its own shard; returns each model's accuracy on the shared test set."""
    scores = []
    for client, index in enumerate(parts):
        model = make_model(seed=client)
        local_train(model, d.X_train[index], d.y_train[index], epochs=epochs, lr=lr, seed=client)
        scores.append(accuracy(model, d.X_test, d.y_test))
    return scores


def weighted_average(updates: list, weights: list) -> list:
    """FedAvg's aggregate: the average of each parameter array, weighted by each client's sample count."""
    if not updates:
        raise ValueError("no client updates to average")
    if len(updates) != len(weights):
        raise ValueError(f"{len(updates)} updates but {len(weights)} weights: give one weight per client")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("the weights (sample counts) must add up to more than zero")
    return [sum(w * np.asarray(u[i], dtype=np.float64) for u, w in zip(updates, weights)) / total
            for i in range(len(updates[0]))]


# --- differential privacy with Opacus --------------------------------------------------------

def noise_for_epsilon(target_epsilon: float, n_samples: int, batch_size: int, epochs: int,
                      delta: float = DELTA) -> float:
    """The noise multiplier DP-SGD needs to stay within (epsilon, delta) for this many epochs."""
    from opacus.accountants.utils import get_noise_multiplier

    if target_epsilon <= 0:
        raise ValueError(f"epsilon must be positive (smaller = more private), got {target_epsilon}")
    if batch_size > n_samples:
        raise ValueError(f"batch_size {batch_size} is larger than the dataset ({n_samples} samples)")
    return get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                sample_rate=batch_size / n_samples, epochs=epochs)


def train_dp(d, target_epsilon: float | None, epochs: int = 10, batch_size: int = 128, lr: float = 0.5,
             max_grad_norm: float = 1.0, seed: int = 0):
    """Train `make_model()` on `d`'s training set with DP-SGD (Opacus) or, with None, plain SGD.

    Returns (model, test accuracy, epsilon spent at DELTA). The private run clips every sample's
    gradient to `max_grad_norm` and adds Gaussian noise sized by the accountant for `target_epsilon`.
    """
    from opacus import PrivacyEngine
    from tqdm.auto import tqdm

    if target_epsilon is not None and target_epsilon <= 0:
        raise ValueError(f"epsilon must be positive (smaller = more private), got {target_epsilon}")
    X, y = _tensors(d.X_train, d.y_train)
    torch.manual_seed(seed)
    model = make_model(seed=seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=batch_size,
                                         shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    engine = None
    if target_epsilon is not None:
        engine = PrivacyEngine(accountant="rdp")
        model, optimizer, loader = engine.make_private_with_epsilon(
            module=model, optimizer=optimizer, data_loader=loader, target_epsilon=target_epsilon,
            target_delta=DELTA, epochs=epochs, max_grad_norm=max_grad_norm)
    label = "no DP" if engine is None else f"DP, target eps={target_epsilon:g}"
    for _ in tqdm(range(epochs), desc=label, leave=False):
        model.train()
        for xb, yb in loader:
            if len(xb) == 0:  # Poisson sampling can draw an empty batch
                continue
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    spent = math.inf if engine is None else engine.get_epsilon(DELTA)
    plain = model._module if hasattr(model, "_module") else model
    return plain, accuracy(plain, d.X_test, d.y_test), spent


# --- the attack: membership inference --------------------------------------------------------

def sample_losses(model: nn.Module, X, y) -> np.ndarray:
    """Each sample's cross-entropy loss under `model` (what a loss-threshold attacker looks at)."""
    X, y = _tensors(X, y)
    model.eval()
    with torch.no_grad():
        return nn.functional.cross_entropy(model(X), y, reduction="none").numpy()


def mia_advantage(model: nn.Module, members, non_members) -> float:
    """Best membership advantage (TPR - FPR) of the loss-threshold attack "low loss means member".

    `members` and `non_members` are (X, y) pairs. 0 means the attacker cannot tell them apart.
    """
    from sklearn.metrics import roc_curve

    inside, outside = sample_losses(model, *members), sample_losses(model, *non_members)
    truth = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    fpr, tpr, _ = roc_curve(truth, -np.r_[inside, outside])
    return float(np.max(tpr - fpr))


def mia_roc(model: nn.Module, members, non_members, fprs=(0.01, 0.001)) -> dict:
    """The loss-threshold attack's ROC (Carlini et al. 2022 read it at low FPR, not by its average).

    Returns {"fpr", "tpr" (the curve), "auc", "advantage" (max TPR - FPR), "tpr_at" {fpr: TPR}}.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    inside, outside = sample_losses(model, *members), sample_losses(model, *non_members)
    truth, score = np.r_[np.ones(len(inside)), np.zeros(len(outside))], -np.r_[inside, outside]
    fpr, tpr, _ = roc_curve(truth, score)
    return {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(truth, score)), "advantage": float(np.max(tpr - fpr)),
            "tpr_at": {f: float(np.max(tpr[fpr <= f])) for f in fprs}}


def dp_advantage_bound(epsilon: float, delta: float = DELTA) -> float:
    """The tight cap on any attack's TPR - FPR under (epsilon, delta)-DP, from the hypothesis-testing view
    (Kairouz et al. 2015): (e^eps - 1 + 2 delta) / (e^eps + 1). Unlike e^eps - 1 + delta it stays below 1."""
    if epsilon < 0 or not 0 <= delta < 1:
        raise ValueError(f"need epsilon >= 0 and 0 <= delta < 1, got {epsilon}, {delta}")
    return min(1.0, (math.expm1(epsilon) + 2 * delta) / (math.exp(epsilon) + 1))


def null_advantage(n_members: int, n_non_members: int, trials: int = 200, seed: int = 0) -> float:
    """The 95th percentile of max(TPR - FPR) when members and non-members are the SAME distribution: an
    advantage below it is indistinguishable from noise at this sample size."""
    rng = np.random.default_rng(seed)
    truth = np.r_[np.ones(n_members), np.zeros(n_non_members)]
    best = []
    for _ in range(trials):
        order = truth[np.argsort(rng.random(len(truth)))]
        tpr, fpr = np.cumsum(order) / n_members, np.cumsum(1 - order) / n_non_members
        best.append(np.max(tpr - fpr))
    return float(np.quantile(best, 0.95))


# --- plots -----------------------------------------------------------------------------------

def plot_label_mix(mix: np.ndarray, title: str = ""):
    """A stacked bar per client showing its label mix (how non-IID the federation is)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    bottom = np.zeros(len(mix))
    for label in range(mix.shape[1]):
        ax.bar(range(len(mix)), mix[:, label], bottom=bottom, label=str(label), color=plt.cm.tab10(label))
        bottom += mix[:, label]
    ax.set(xlabel="client", ylabel="samples", title=title, xticks=range(len(mix)))
    ax.legend(title="digit", ncol=2, fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_rounds(curves: dict, baselines: dict | None = None, title: str = "Global test accuracy per round"):
    """Accuracy per federated round, one line per run, with horizontal lines for the baselines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, values in curves.items():
        ax.plot(range(len(values)), values, marker="o", label=name)
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, ls="--", color=f"C{len(curves) + i}", label=name)
    ax.set(xlabel="round", ylabel="test accuracy", title=title, ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_dp_curve(rows: list, anchors: dict | None = None):
    """Accuracy against epsilon for our DP runs, beside published anchors {label: [(eps, acc), ...]}."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    private = [r for r in rows if math.isfinite(r["epsilon"])]
    ax.plot([r["epsilon"] for r in private], [r["accuracy"] for r in private], marker="o", label="this lesson")
    for r in rows:
        if not math.isfinite(r["epsilon"]):
            ax.axhline(r["accuracy"], ls="--", color="gray", label="no DP")
    for name, points in (anchors or {}).items():
        ax.plot(*zip(*points), marker="x", ls=":", label=name)
    ax.set(xscale="log", xlabel="epsilon (delta = 1e-5)", ylabel="test accuracy", title="Privacy vs accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_server_view(plain_update: np.ndarray, masked_upload: np.ndarray, unit: int = 0):
    """Left: one hidden unit's weights from a client's plain update (a 28x28 image the server can read).
    Right: the same slot of what that client uploads under SecAgg+ (masked integers, noise to the server)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    for ax, values, title in ((axes[0], plain_update, "without SecAgg+: client update"),
                              (axes[1], masked_upload, "with SecAgg+: masked upload")):
        ax.imshow(np.asarray(values, dtype=np.float64).ravel()[unit * 784:(unit + 1) * 784].reshape(28, 28),
                  cmap="coolwarm")
        ax.set(title=title, xticks=[], yticks=[])
    fig.tight_layout()
    plt.close(fig)
    return fig
