import pytest
import torch

from kit import device, profile
from kit.errors import UnknownNameError


def test_pick_follows_kit_profile(monkeypatch):
    monkeypatch.setenv("KIT_PROFILE", "smoke")
    assert profile.pick(smoke=1, cpu=2, gpu=3) == 1
    monkeypatch.setenv("KIT_PROFILE", "gpu")
    assert profile.pick(smoke=1, cpu=2, gpu=3) == 3
    assert profile.pick(smoke=1, cpu=2) == 2  # gpu falls back to the cpu value


def test_unset_profile_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("KIT_PROFILE", raising=False)
    assert profile.name() == ("gpu" if torch.cuda.is_available() else "cpu")


def test_invalid_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("KIT_PROFILE", "turbo")
    with pytest.raises(UnknownNameError, match="Unknown profile.*'turbo'.*cpu, gpu, smoke"):
        profile.pick(smoke=1, cpu=2)


def test_device_and_description(monkeypatch):
    assert device.get().type in ("cpu", "cuda", "mps")
    monkeypatch.setenv("KIT_DEVICE", "cpu")
    assert device.get() == torch.device("cpu")
    assert device.describe(torch.device("cpu")).startswith("cpu (")


def test_setup_seeds_and_reports(capsys):
    import kit

    kit.setup(seed=3)
    first = torch.rand(3)
    kit.setup(seed=3)
    assert torch.equal(first, torch.rand(3))
    assert "profile" in capsys.readouterr().out


def test_available_cores_without_sched_getaffinity(monkeypatch, capsys):
    """macOS and Windows have no os.sched_getaffinity: the kit must still count cores and set up."""
    import os

    import kit

    assert device.available_cores() >= 1
    threads = torch.get_num_threads()
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    try:
        assert device.available_cores() == (getattr(os, "process_cpu_count", os.cpu_count)() or 1)
        kit.setup(seed=0)
        assert "threads" in capsys.readouterr().out
        monkeypatch.delattr(os, "process_cpu_count", raising=False)  # Python 3.11-3.12
        assert device.available_cores() == os.cpu_count()
    finally:
        torch.set_num_threads(threads)
