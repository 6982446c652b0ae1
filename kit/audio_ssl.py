"""Self-supervised learning on real audio (lesson 04): log-mel spectrograms, audio augmentations, a
contrastive encoder trained on unlabelled clips, and a few-label probe against raw spectrogram features.

    waves, labels = clips.X_train, clips.y_train                   # data.load("sonic_pi"): 16 kHz mono
    mel = audio_ssl.log_mel(waves[0])                               # (64 mel bands, frames)
    encoder = audio_ssl.AudioEncoder()
    audio_ssl.train_contrastive(encoder, pool_waves, epochs=30)      # no labels: two views of a crop must match
    feats = audio_ssl.clip_features(encoder, waves)                  # one vector per recording
    base = audio_ssl.logmel_stats(waves)                             # the baseline: mean and std per mel band

The spectrogram is `torch.stft` and a mel filterbank in numpy (torchaudio has no build for this torch).
The contrastive loss is SimCLR's NT-Xent (`selfsup.nt_xent`), so images and audio share one objective.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kit.selfsup import nt_xent
from kit.train import LivePlot

__all__ = ["SAMPLE_RATE", "mel_filterbank", "log_mel", "crop", "augment_audio", "AudioEncoder",
           "train_contrastive", "clip_features", "logmel_stats", "split_recordings", "few_label_split",
           "plot_spectrograms"]

SAMPLE_RATE = 16_000
N_FFT, HOP, N_MELS = 512, 160, 64           # 32 ms windows every 10 ms, 64 mel bands


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 30.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular filters evenly spaced on the mel scale (HTK formula): (n_mels, n_fft // 2 + 1)."""
    fmax = fmax or sr / 2
    mel = lambda f: 2595 * np.log10(1 + np.asarray(f) / 700)      # noqa: E731
    hz = lambda m: 700 * (10 ** (np.asarray(m) / 2595) - 1)       # noqa: E731
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up, down = (bins - low) / (centre - low), (high - bins) / (high - centre)
    return np.maximum(0, np.minimum(up, down)).astype(np.float32)


_FILTERS = torch.as_tensor(mel_filterbank())


def log_mel(waves) -> torch.Tensor:
    """Log-mel spectrogram(s) of 16 kHz audio: (samples,) -> (64, frames); (n, samples) -> (n, 64, frames)."""
    x = torch.as_tensor(np.asarray(waves, dtype=np.float32) if not isinstance(waves, torch.Tensor) else waves).float()
    single = x.ndim == 1
    if x.ndim not in (1, 2) or x.shape[-1] < N_FFT:
        raise ValueError(f"expected audio shaped (samples,) or (n, samples) with at least {N_FFT} samples, "
                         f"got {tuple(x.shape)}")
    spec = torch.stft(x.reshape(-1, x.shape[-1]), N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    mel = torch.log(_FILTERS @ spec.abs().pow(2) + 1e-6)
    return mel[0] if single else mel


def crop(wave, seconds: float, start: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A `seconds`-long piece of one recording at a random (or given) start; short recordings are zero-padded
    at a random place, so a 0.1 s drum hit becomes a hit somewhere in a second of silence."""
    wave = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    length = int(seconds * SAMPLE_RATE)
    if len(wave) >= length:
        if start is None:
            start = int(torch.randint(len(wave) - length + 1, (1,), generator=generator))
        return wave[start:start + length]
    offset = int(torch.randint(length - len(wave) + 1, (1,), generator=generator)) if start is None else 0
    return F.pad(wave, (offset, length - len(wave) - offset))


def augment_audio(waves, seconds: float = 1.0, gain_db: float = 6.0, noise_db: float = -30.0,
                  time_mask: int = 20, freq_mask: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random view of each recording as a log-mel spectrogram (n, 64, frames): a random crop (time
    shift), a random gain of up to +-`gain_db`, white noise at up to `noise_db` below the clip's peak, then
    SpecAugment's masks: one band of up to `freq_mask` mel bands and one stretch of up to `time_mask` frames."""
    g = generator
    batch = torch.stack([crop(w, seconds, generator=g) for w in waves])
    gain = 10 ** ((torch.rand(len(batch), 1, generator=g) * 2 - 1) * gain_db / 20)
    peak = batch.abs().amax(1, keepdim=True).clamp(min=1e-4)
    level = peak * 10 ** (noise_db / 20) * torch.rand(len(batch), 1, generator=g)
    noise = torch.randn(batch.shape, generator=g) * level
    mel = log_mel((batch + noise) * gain)
    n, bands, frames = mel.shape
    floor = mel.amin(dim=(1, 2), keepdim=True)
    for i in range(n):
        f0, fw = int(torch.randint(bands, (1,), generator=g)), int(torch.randint(freq_mask + 1, (1,), generator=g))
        t0, tw = int(torch.randint(frames, (1,), generator=g)), int(torch.randint(time_mask + 1, (1,), generator=g))
        mel[i, f0:f0 + fw, :] = floor[i]
        mel[i, :, t0:t0 + tw] = floor[i]
    return mel


class AudioEncoder(nn.Module):
    """A small CNN over log-mel spectrograms -> a `dim`-dimensional vector. Global pooling over time
    means a recording of any length (at least one FFT window) gets one vector. `centre` subtracts each
    spectrogram's mean first, so the features ignore the overall level (gain)."""

    def __init__(self, width: int = 32, dim: int = 128, centre: bool = False):
        super().__init__()
        self.dim, self.centre = dim, centre

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.norm = nn.BatchNorm2d(1)                      # log-mel values are around -10: standardise them
        self.net = nn.Sequential(*block(1, width), *block(width, 2 * width), *block(2 * width, 4 * width))
        self.out = nn.Linear(2 * 4 * width * (N_MELS // 8), dim)     # mean and max over time of every (channel, band)

    def forward(self, mel):
        mel = mel.unsqueeze(1) if mel.ndim == 3 else mel
        if self.centre:                                   # a gain is a constant shift of a log spectrogram
            mel = mel - mel.mean(dim=(2, 3), keepdim=True)
        h = self.net(self.norm(mel)).flatten(1, 2)       # (n, channels x bands/8, frames/8): where in frequency stays
        return self.out(torch.cat([h.mean(2), h.amax(2)], 1))                   # mean and max over time


def train_contrastive(encoder: AudioEncoder, waves, epochs: int = 30, batch_size: int = 64, lr: float = 2e-3,
                      temperature: float = 0.2, steps_per_epoch: int | None = None, seed: int = 0,
                      progress: bool = True, **aug) -> list[dict]:
    """SimCLR on audio, no labels: two augmented views (`augment_audio`) of a recording must find each
    other among the batch. Each step draws `batch_size` recordings at random (recordings are few, crops
    are many). Returns one row per epoch with the mean loss."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if len(waves) < 2:
        raise ValueError(f"contrastive training needs at least 2 recordings, got {len(waves)}")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Sequential(nn.ReLU(), nn.Linear(encoder.dim, encoder.dim), nn.ReLU(), nn.Linear(encoder.dim, 64))
    params = list(encoder.parameters()) + list(head.parameters())
    steps = steps_per_epoch or max(1, math.ceil(len(waves) / batch_size))
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps)
    plot, rows = LivePlot(title="contrastive audio encoder"), []
    encoder.train()
    head.train()
    for epoch in tqdm(range(1, epochs + 1), desc="audio SimCLR", disable=not progress, leave=False):
        losses = []
        for _ in range(steps):
            picked = torch.randint(len(waves), (min(batch_size, len(waves)),), generator=g)
            batch = [waves[int(i)] for i in picked]
            z1 = head(encoder(augment_audio(batch, generator=g, **aug)))
            z2 = head(encoder(augment_audio(batch, generator=g, **aug)))
            loss = nt_xent(z1, z2, temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        rows.append({"epoch": epoch, "train_loss": float(np.mean(losses))})
        plot.update(rows[-1])
    plot.finish()
    encoder.eval()
    return rows


def _whole(wave, min_seconds: float = 1.0) -> torch.Tensor:
    """A recording as one log-mel spectrogram, zero-padded (centred) to at least `min_seconds`."""
    wave = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    short = int(min_seconds * SAMPLE_RATE) - len(wave)
    if short > 0:
        wave = F.pad(wave, (short // 2, short - short // 2))
    return log_mel(wave)


@torch.no_grad()
def clip_features(encoder: AudioEncoder, waves) -> np.ndarray:
    """One frozen feature vector per recording (the whole recording, pooled over time)."""
    encoder.eval()
    return np.stack([encoder(_whole(w)[None]).numpy()[0] for w in waves])


def logmel_stats(waves) -> np.ndarray:
    """The raw-feature baseline: each mel band's mean and standard deviation over the recording (128 numbers),
    the classic hand-made timbre summary a reader tries first."""
    feats = []
    for w in waves:
        mel = _whole(w).numpy()
        feats.append(np.concatenate([mel.mean(1), mel.std(1)]))
    return np.stack(feats)


def split_recordings(y, min_per_class: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) indices: half the recordings of every class with at least `min_per_class` of them go to the
    test set, never heard during pre-training; the rest (and every recording of the rarer classes) form the
    unlabelled pool the encoder trains on, from which the few labels are drawn."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    pool, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        half = len(idx) // 2 if len(idx) >= min_per_class else 0
        test += idx[:half].tolist()
        pool += idx[half:].tolist()
    if not test:
        raise ValueError(f"no class has {min_per_class} recordings: lower min_per_class")
    return np.sort(pool), np.sort(test)


def few_label_split(y, k: int, seed: int = 0) -> np.ndarray:
    """Indices of `k` random labelled examples per class (all of a class if it has fewer)."""
    y = np.asarray(y)
    if k < 1:
        raise ValueError(f"k must be at least 1 labelled example per class, got {k}")
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(y == c), min(k, int((y == c).sum())), replace=False) for c in np.unique(y)]
    return np.sort(np.concatenate(picked))


def plot_spectrograms(waves, titles, n: int = 6):
    """Log-mel spectrograms of the first `n` recordings, one panel each, with their titles."""
    import matplotlib.pyplot as plt

    n = min(n, len(waves))
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.4), squeeze=False)
    for ax, wave, title in zip(axes[0], waves[:n], titles[:n]):
        ax.imshow(_whole(wave).numpy(), origin="lower", aspect="auto", cmap="magma")
        ax.set(title=str(title), xticks=[], yticks=[])
    axes[0][0].set_ylabel("mel band")
    fig.tight_layout()
    plt.close(fig)
    return fig
