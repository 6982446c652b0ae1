"""Lesson 06, audio: spoken digits synthesised offline, log-mel spectrograms, an audio encoder bound to a
frozen image embedding (ImageBind-style), a Whisper speech -> text pipeline, and a widget to listen.

    clips = audio_video.spoken_digits(audio_video.voices(train=True), speeds=(140, 175, 210), pitches=(30, 60))
    mels = audio_video.log_mel(clips.waves)                          # (n, 40 mel bands, 101 frames)
    enc = audio_video.AudioEncoder(dim=64)
    audio_video.bind_audio(enc, mels, clips.digit, image_emb, image_digit)   # (speech, image) pairs only
    audio_emb = audio_video.embed_audio(enc, mels)                   # compare with text: never trained on it

Speech comes from eSpeak NG: the PyPI wheel `espeakng-loader` (its bundled library, called through ctypes;
Linux, macOS, Windows) or else the `espeak-ng` program (Debian: `apt-get install espeak-ng`). Clips are cached
in the kit's cache (`KIT_CACHE`), written atomically. Spectrograms are numpy + torch.stft (no torchaudio).
"""
import hashlib
import importlib.util
import math
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kit.errors import MissingResourceError, pip_fix, unknown
from kit.paths import cache_dir, ensure_writable

__all__ = ["SAMPLE_RATE", "DIGIT_WORDS", "ACCENTS", "VARIANTS", "TEST_VARIANTS", "voices", "espeak_fix", "speak",
           "fit_clip", "SpokenDigits", "spoken_digits", "log_mel", "AudioEncoder", "bind_audio", "embed_audio",
           "dtw_template_predict", "nearest_clip_predict", "transcribe", "tokens", "align_correct", "alsa_prompts",
           "model_megabytes", "audio_widget"]

SAMPLE_RATE = 16_000
SECONDS = 1.0
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "m6", "m7", "f4", "f5")
TEST_VARIANTS = ("m7", "f4", "f5")            # speakers the audio encoder never hears in training


def voices(train: bool) -> list[str]:
    """eSpeak NG voices `accent+variant`: training speakers, or the held-out ones (TEST_VARIANTS)."""
    chosen = [v for v in VARIANTS if (v in TEST_VARIANTS) != train]
    return [f"{accent}+{variant}" for accent in ACCENTS for variant in chosen]


# --- speech synthesis ------------------------------------------------------------------------------

def espeak_fix() -> str:
    """What to run so that speech can be synthesised here (said by every error about missing eSpeak NG)."""
    apt = " or, on Debian/Ubuntu, sudo apt-get install -y espeak-ng (`make audio` does it)"
    return f"{pip_fix('espeakng-loader')}{apt if platform.system() == 'Linux' else ''}"


class _Library:
    """libespeak-ng from the espeakng-loader wheel, driven through ctypes (synchronous synthesis)."""

    def __init__(self):
        import ctypes

        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.rate = self.lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # 2 = SYNCHRONOUS
        if self.rate <= 0:
            raise MissingResourceError(f"libespeak-ng did not start (code {self.rate}). Fix: {espeak_fix()}")
        self.chunks: list = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self.callback = callback_type(self._collect)      # kept alive as long as the library
        self.lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wave, n, events):
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wave, shape=(n,)).copy())
        return 0

    def say(self, text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r} (try `espeak-ng --voices=en`)")
        self.lib.espeak_SetParameter(1, int(speed), 0)     # espeakRATE, words per minute
        self.lib.espeak_SetParameter(3, int(pitch), 0)     # espeakPITCH, 0-100
        self.chunks = []
        data = text.encode() + b"\0"
        self.lib.espeak_Synth(data, len(data), 0, 0, 0, 0, None, None)
        return np.concatenate(self.chunks or [np.zeros(1, np.int16)]).astype(np.float32) / 32768


_library: list = []


def _backend(prefer: str = "auto") -> str:
    if prefer not in ("auto", "library", "cli"):
        raise unknown("speech backend", prefer, ("auto", "library", "cli"))
    has_lib = importlib.util.find_spec("espeakng_loader") is not None
    has_cli = shutil.which("espeak-ng") is not None
    if prefer == "library" and has_lib or prefer == "auto" and has_lib:
        return "library"
    if prefer in ("cli", "auto") and has_cli:
        return "cli"
    raise MissingResourceError(f"Speech synthesis needs eSpeak NG ({prefer}), which is not installed. "
                               f"Fix: {espeak_fix()}")


def speak(text: str, voice: str = "en-us", speed: int = 175, pitch: int = 50, backend: str = "auto") -> np.ndarray:
    """`text` spoken by eSpeak NG as 16 kHz mono float32 (the library from espeakng-loader, else the CLI)."""
    from scipy.signal import resample_poly

    if _backend(backend) == "library":
        if not _library:
            _library.append(_Library())
        wave, rate = _library[0].say(text, voice, speed, pitch), _library[0].rate
    else:
        import soundfile

        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "say.wav"
            done = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out),
                                   text], capture_output=True, text=True, timeout=30)
            if done.returncode != 0 or not out.exists():
                raise ValueError(f"espeak-ng failed for voice {voice!r}: {done.stderr.strip()[:200]}")
            wave, rate = soundfile.read(out, dtype="float32")
    g = math.gcd(SAMPLE_RATE, int(rate))
    return resample_poly(wave, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)   # 22,050 -> 16,000 Hz


def fit_clip(wave: np.ndarray, seconds: float = SECONDS) -> np.ndarray:
    """Trim leading/trailing silence, scale to peak 0.9, then pad or cut to exactly `seconds`."""
    loud = np.flatnonzero(np.abs(wave) > 0.02 * (np.abs(wave).max() + 1e-9))
    wave = wave[loud[0]:loud[-1] + 1] if len(loud) else wave
    wave = 0.9 * wave / (np.abs(wave).max() + 1e-9)
    out = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    out[:min(len(wave), len(out))] = wave[:len(out)]
    return out


@dataclass
class SpokenDigits:
    """Synthesised clips: `waves` (n, 16,000) at 16 kHz, the spoken `digit`, and how each was said."""
    waves: np.ndarray
    digit: np.ndarray
    voice: np.ndarray
    speed: np.ndarray
    pitch: np.ndarray


def spoken_digits(voice_list, speeds=(175,), pitches=(50,), backend: str = "auto", progress: bool = True):
    """Every digit word in every (voice, speed, pitch): synthesised once, then read from the kit's cache."""
    voice_list = list(voice_list)
    if not voice_list:
        raise ValueError("give at least one voice, e.g. audio_video.voices(train=True)")
    chosen = _backend(backend)
    rows = [(d, v, s, p) for v in voice_list for s in speeds for p in pitches for d in range(10)]
    key = hashlib.sha256(repr((chosen, rows, SAMPLE_RATE, SECONDS)).encode()).hexdigest()[:16]
    folder = ensure_writable(cache_dir() / "spoken_digits")
    file = folder / f"{chosen}-{key}.npz"
    if file.exists():
        with np.load(file) as saved:
            return SpokenDigits(*(saved[k] for k in ("waves", "digit", "voice", "speed", "pitch")))
    waves = np.stack([fit_clip(speak(DIGIT_WORDS[d], v, s, p, chosen))
                      for d, v, s, p in tqdm(rows, desc="espeak-ng", disable=not progress, leave=False)])
    digit, voice, speed, pitch = (np.array(c) for c in zip(*rows))
    tmp = folder / f".{file.stem}.{os.getpid()}.tmp.npz"
    np.savez_compressed(tmp, waves=waves, digit=digit, voice=voice, speed=speed, pitch=pitch)
    os.replace(tmp, file)
    return SpokenDigits(waves, digit, voice, speed, pitch)


# --- spectrograms and the audio encoder --------------------------------------------------------------

N_FFT, HOP, N_MELS = 400, 160, 40          # 25 ms windows every 10 ms, 40 mel bands


def _mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> torch.Tensor:
    mel = lambda f: 2595 * np.log10(1 + np.asarray(f) / 700)      # noqa: E731  (HTK mel scale)
    hz = lambda m: 700 * (10 ** (np.asarray(m) / 2595) - 1)       # noqa: E731
    edges = hz(np.linspace(mel(20), mel(sr / 2), n_mels + 2))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    up = (bins - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    down = (edges[2:, None] - bins) / (edges[2:, None] - edges[1:-1, None])
    return torch.as_tensor(np.maximum(0, np.minimum(up, down)), dtype=torch.float32)


def log_mel(waves) -> torch.Tensor:
    """Log-mel spectrograms of 16 kHz audio: (samples,) -> (40, frames), (n, samples) -> (n, 40, frames)."""
    x = torch.as_tensor(np.asarray(waves, dtype=np.float32))
    if x.ndim not in (1, 2) or x.shape[-1] < N_FFT:
        raise ValueError(f"expected 16 kHz audio shaped (samples,) or (n, samples) with at least {N_FFT} samples, "
                         f"got shape {tuple(x.shape)}")
    spec = torch.stft(x.reshape(-1, x.shape[-1]), N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    mel = torch.log10(_mel_filters() @ spec.abs().pow(2) + 1e-6)
    mel = (mel + 3) / 3                                          # roughly zero-centred, unit scale
    return mel[0] if x.ndim == 1 else mel


class AudioEncoder(nn.Module):
    """A small 1-D CNN over time (mel bands as channels), pooled over time, to a unit vector of size `dim`."""

    def __init__(self, dim: int = 64, width: int = 32, n_mels: int = N_MELS):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_mels, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(width, width, 3, padding=1), nn.BatchNorm1d(width), nn.ReLU())
        self.head = nn.Linear(2 * width, dim)

    def forward(self, mel):
        h = self.net(mel)
        return F.normalize(self.head(torch.cat([h.mean(-1), h.amax(-1)], 1)), dim=-1)


def bind_audio(encoder: AudioEncoder, mels, audio_digit, image_emb, image_digit, *, epochs: int = 20,
               batch_size: int = 64, lr: float = 2e-3, temperature: float = 0.07, shuffle_pairs: bool = False,
               seed: int = 0, progress: bool = True) -> list:
    """Bind audio to a FROZEN image embedding with (clip, image) pairs only: each epoch every clip is paired with
    a random image of its digit, and InfoNCE pulls the clip's embedding to that image's (ImageBind's recipe).

    `shuffle_pairs=True` is the negative control: clips are paired with images of a shuffled digit, so any
    alignment measured afterwards must vanish. Returns one row per epoch.
    """
    mels = torch.as_tensor(mels).float()
    audio_digit, image_digit = np.asarray(audio_digit), np.asarray(image_digit)
    image_emb = F.normalize(torch.as_tensor(image_emb).float(), dim=-1)
    if len(mels) != len(audio_digit) or len(image_emb) != len(image_digit):
        raise ValueError(f"{len(mels)} clips with {len(audio_digit)} digits, {len(image_emb)} images with "
                         f"{len(image_digit)} digits: each pair of lengths must match")
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    target_digit = rng.permutation(audio_digit) if shuffle_pairs else audio_digit
    by_digit = {d: np.flatnonzero(image_digit == d) for d in np.unique(image_digit)}
    missing = sorted(set(target_digit.tolist()) - set(by_digit))
    if missing:
        raise ValueError(f"no image of digit(s) {missing} to pair with: give images of every spoken digit")
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    rows = []
    for epoch in tqdm(range(1, epochs + 1), desc="binding", disable=not progress, leave=False):
        encoder.train()
        pick = torch.as_tensor(np.array([rng.choice(by_digit[d]) for d in target_digit]))
        order, total = torch.randperm(len(mels), generator=gen), 0.0
        for start in range(0, len(mels), batch_size):
            idx = order[start:start + batch_size]
            logits = encoder(mels[idx]) @ image_emb[pick[idx]].T / temperature
            target = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        rows.append({"epoch": epoch, "binding_loss": total / len(mels)})
    encoder.eval()
    return rows


@torch.no_grad()
def embed_audio(encoder: AudioEncoder, mels, batch_size: int = 512) -> torch.Tensor:
    """Unit-length audio embeddings (eval mode, no gradients)."""
    encoder.eval()
    mels = torch.as_tensor(mels).float()
    return torch.cat([encoder(mels[i:i + batch_size]) for i in range(0, len(mels), batch_size)])


# --- baselines that need no training ---------------------------------------------------------------

def dtw_template_predict(mels, template_mels, pool: int = 2) -> np.ndarray:
    """Isolated-word recognition of the 1970s: the template (one spoken word per class) nearest by dynamic
    time warping over cosine distances of spectrogram frames (averaged `pool` at a time, for speed).
    (n, bands, T), (k, bands, T) -> (n,) class ids."""
    def frames(m):
        return F.normalize(F.avg_pool1d(torch.as_tensor(m).float(), pool).transpose(1, 2), dim=-1)

    a, b = frames(mels), frames(template_mels)                                         # (n, T, bands), (k, S, bands)
    cost = 1 - torch.einsum("ntb,ksb->nkts", a, b)                                     # (n, k, T, S)
    n_t, n_s = cost.shape[-2:]
    total = torch.full((*cost.shape[:2], n_t + 1, n_s + 1), float("inf"))
    total[..., 0, 0] = 0
    for diagonal in range(2, n_t + n_s + 1):                  # anti-diagonals: each cell needs the one before
        i = torch.arange(max(1, diagonal - n_s), min(n_t, diagonal - 1) + 1)
        j = diagonal - i
        best = torch.minimum(torch.minimum(total[..., i - 1, j], total[..., i, j - 1]), total[..., i - 1, j - 1])
        total[..., i, j] = cost[..., i - 1, j - 1] + best
    return total[..., n_t, n_s].argmin(1).numpy()


def nearest_clip_predict(mels, train_mels, train_labels) -> np.ndarray:
    """1-nearest neighbour on the flattened spectrogram (cosine): the label of the most similar training clip."""
    a = F.normalize(torch.as_tensor(mels).float().flatten(1), dim=-1)
    b = F.normalize(torch.as_tensor(train_mels).float().flatten(1), dim=-1)
    return np.asarray(train_labels)[(a @ b.T).argmax(1).numpy()]


# --- Whisper: a pretrained speech recogniser ------------------------------------------------------

def transcribe(whisper, waves, group: int = 1, lead: float = 0.5, gap: float = 0.8) -> tuple[list[str], float]:
    """Transcribe 16 kHz clips with a faster_whisper.WhisperModel (English, greedy, no timestamps).

    `group` > 1 speaks that many clips one after another with `gap` seconds of silence and transcribes them as
    one recording: Whisper reads 30-second windows of natural speech, and an isolated 1-second word often comes
    back as a made-up phrase. Returns (one text per group, CPU seconds per clip).
    """
    if group < 1:
        raise ValueError(f"group must be at least 1, got {group}")
    texts, start = [], time.process_time()
    pause = np.zeros(int(gap * SAMPLE_RATE), np.float32)
    for g in range(0, len(waves), group):
        parts = [np.zeros(int(lead * SAMPLE_RATE), np.float32)]
        for wave in waves[g:g + group]:
            parts += [np.asarray(wave, dtype=np.float32), pause]
        segments, _ = whisper.transcribe(np.concatenate(parts), language="en", beam_size=1, without_timestamps=True,
                                         condition_on_previous_text=False, vad_filter=False)
        texts.append(" ".join(s.text.strip() for s in segments).strip())
    return texts, (time.process_time() - start) / max(1, len(waves))


def tokens(text: str) -> list[str]:
    """The words and single digits of a transcript: "Seven, 4 5." -> ["Seven", "4", "5"]."""
    return re.findall(r"[A-Za-z]+|\d", text)


def align_correct(predicted, truth) -> np.ndarray:
    """Score a predicted sequence against the true one as speech recognition is scored (the alignment behind
    word error rate): 1.0 for each true item matched in the minimum-edit alignment, 0.0 if substituted or
    dropped. Words the recogniser inserted cost nothing here, so say how many there were."""
    p, t = list(predicted), list(truth)
    cost = np.zeros((len(p) + 1, len(t) + 1), int)
    cost[:, 0], cost[0, :] = np.arange(len(p) + 1), np.arange(len(t) + 1)
    for i in range(1, len(p) + 1):
        for j in range(1, len(t) + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (p[i - 1] != t[j - 1]))
    hit, i, j = np.zeros(len(t)), len(p), len(t)
    while i > 0 and j > 0:
        if cost[i, j] == cost[i - 1, j - 1] + (p[i - 1] != t[j - 1]):
            hit[j - 1] = float(p[i - 1] == t[j - 1])
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return hit


def alsa_prompts(folder: str = "/usr/share/sounds/alsa") -> dict:
    """Debian alsa-utils' recorded voice prompts {"Front Center": 16 kHz wave, ...} ({} if not installed)."""
    import soundfile
    from scipy.signal import resample_poly

    found = {}
    for file in sorted(Path(folder).glob("*.wav")) if Path(folder).is_dir() else []:
        wave, rate = soundfile.read(file, dtype="float32", always_2d=True)
        found[file.stem.replace("_", " ")] = resample_poly(wave.mean(1), SAMPLE_RATE, rate).astype(np.float32)
    return found


def model_megabytes(model_or_folder) -> float:
    """Size in MB: of a torch module's parameters, or of every file in a model folder."""
    if isinstance(model_or_folder, nn.Module):
        return sum(p.numel() * p.element_size() for p in model_or_folder.parameters()) / 1e6
    return sum(f.stat().st_size for f in Path(model_or_folder).iterdir() if f.is_file()) / 1e6


# --- listening -------------------------------------------------------------------------------------

def audio_widget(waves, titles, audio_emb, caption_emb, caption_texts, k: int = 3):
    """A dropdown of clips: play the chosen one and list its `k` nearest captions in the joint space."""
    import ipywidgets as widgets
    from IPython.display import Audio, display

    if not len(waves) == len(titles) == len(audio_emb):
        raise ValueError(f"{len(waves)} clips, {len(titles)} titles, {len(audio_emb)} embeddings: they must match")
    sims = torch.as_tensor(audio_emb) @ torch.as_tensor(caption_emb).T
    choose = widgets.Dropdown(options=[(t, i) for i, t in enumerate(titles)], description="clip")
    out = widgets.Output()

    def show(change=None):
        out.clear_output()
        with out:
            display(Audio(np.asarray(waves[choose.value]), rate=SAMPLE_RATE))
            top = sims[choose.value].topk(k)
            for score, i in zip(top.values.tolist(), top.indices.tolist()):
                print(f"{score:+.2f}  {caption_texts[i]}")

    choose.observe(show, names="value")
    show()
    return widgets.VBox([choose, out])
