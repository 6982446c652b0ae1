"""Unit tests for kit.audio_ssl (lesson 04's audio section): synthetic tones, no recordings needed, seconds."""
import numpy as np
import pytest
import torch

from kit import audio_ssl

SR = audio_ssl.SAMPLE_RATE


def tone(freq, seconds=1.0, amp=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_mel_filterbank_and_log_mel_put_a_tone_in_the_right_band():
    filters = audio_ssl.mel_filterbank()
    assert filters.shape == (64, 257) and (filters >= 0).all() and (filters.sum(1) > 0).all()
    low, high = audio_ssl.log_mel(tone(200)), audio_ssl.log_mel(tone(4000))
    assert low.shape == (64, 101)
    assert low.mean(1).argmax() < high.mean(1).argmax()
    assert audio_ssl.log_mel(np.stack([tone(200), tone(4000)])).shape == (2, 64, 101)
    with pytest.raises(ValueError, match="at least 512 samples"):
        audio_ssl.log_mel(np.zeros(100))


def test_crop_pads_short_recordings_and_cuts_long_ones():
    g = torch.Generator().manual_seed(0)
    short, long = np.ones(1000, np.float32), np.arange(40000, dtype=np.float32)
    assert audio_ssl.crop(short, 1.0, generator=g).shape == (SR,)
    assert audio_ssl.crop(short, 1.0, generator=g).sum() == 1000
    piece = audio_ssl.crop(long, 1.0, start=100)
    assert piece.shape == (SR,) and piece[0] == 100


def test_augment_audio_gives_different_views_of_the_same_shape():
    g = torch.Generator().manual_seed(0)
    waves = [tone(300, 2.0), tone(1000, 0.3)]
    v1, v2 = audio_ssl.augment_audio(waves, generator=g), audio_ssl.augment_audio(waves, generator=g)
    assert v1.shape == v2.shape == (2, 64, 101) and not torch.allclose(v1, v2)
    assert torch.isfinite(v1).all()


def test_encoder_features_and_contrastive_training_run():
    waves = [tone(f, s) for f, s in ((200, 0.5), (400, 1.5), (800, 0.05), (1600, 1.0))]
    encoder = audio_ssl.AudioEncoder(width=4, dim=8)
    rows = audio_ssl.train_contrastive(encoder, waves, epochs=2, batch_size=4, steps_per_epoch=1, progress=False)
    assert len(rows) == 2 and all(np.isfinite(r["train_loss"]) for r in rows)
    feats = audio_ssl.clip_features(encoder, waves)
    assert feats.shape == (4, 8) and np.isfinite(feats).all()
    assert audio_ssl.logmel_stats(waves).shape == (4, 128)
    with pytest.raises(ValueError, match="at least 2 recordings"):
        audio_ssl.train_contrastive(encoder, waves[:1], epochs=1)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        audio_ssl.train_contrastive(encoder, waves, epochs=0)


def test_splits_keep_test_recordings_out_of_the_pool():
    y = np.array([0] * 10 + [1] * 8 + [2] * 3)
    pool, test = audio_ssl.split_recordings(y, min_per_class=8)
    assert not set(pool) & set(test) and len(pool) + len(test) == len(y)
    assert set(y[test]) == {0, 1} and (y[pool] == 2).sum() == 3
    few = audio_ssl.few_label_split(y[pool], 2, seed=1)
    assert np.bincount(y[pool][few]).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="no class has"):
        audio_ssl.split_recordings(y, min_per_class=20)
    with pytest.raises(ValueError, match="k must be at least 1"):
        audio_ssl.few_label_split(y, 0)


def test_plot_spectrograms_returns_a_figure():
    assert audio_ssl.plot_spectrograms([tone(200), tone(900, 0.2)], ["low", "high"]).axes
