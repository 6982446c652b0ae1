import re

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


def test_kit_device_the_machine_lacks_is_a_clear_error(monkeypatch):
    from kit.errors import KitError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("KIT_DEVICE", "cuda")
    with pytest.raises(KitError, match="KIT_DEVICE=cuda but this machine has no cuda device.*KIT_DEVICE=cpu"):
        device.get()
    monkeypatch.setenv("KIT_DEVICE", "tpu")
    with pytest.raises(UnknownNameError, match="Unknown device.*'tpu'.*cpu, cuda, mps"):
        device.get()
    monkeypatch.setenv("KIT_DEVICE", " CPU ")
    assert device.get() == torch.device("cpu")


def test_one_place_decides_the_default_profile(monkeypatch):
    """A notebook (profile.name) and `kit run` (runner.run_notebook) agree: gpu with CUDA, cpu without."""
    import inspect

    from kit import runner

    monkeypatch.delenv("KIT_PROFILE", raising=False)
    for cuda in (True, False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        assert profile.name() == profile.resolve() == profile.default() == ("gpu" if cuda else "cpu")
    assert profile.resolve("smoke") == "smoke"
    monkeypatch.setenv("KIT_PROFILE", "smoke")
    assert profile.resolve() == "smoke" and profile.resolve("cpu") == "cpu"
    with pytest.raises(UnknownNameError):
        profile.resolve("turbo")
    source = inspect.getsource(runner)
    own_default = r"""KIT_PROFILE["'][^)\n]*\)\s*or\s*["'](cpu|gpu)|KIT_PROFILE["'],\s*["'](cpu|gpu)"""
    assert not re.search(own_default, source), "kit/runner.py decides its own default profile: ask profile.resolve()"


def test_free_memory_returns_freed_heap_to_the_os_on_linux():
    import sys

    import psutil
    import pytest

    from kit import device

    if not sys.platform.startswith("linux"):
        assert device.free_memory() is False
        return
    def rss():
        return psutil.Process().memory_info().rss

    # many 256 KiB tensors land on the heap once glibc's mmap threshold has grown: freeing them keeps the RSS
    big = [torch.ones(64 * 1024) for _ in range(8)]
    del big
    held = [torch.ones(64 * 1024) for _ in range(2000)]        # ~500 MB
    before = rss()
    del held
    import gc
    gc.collect()
    if device.free_memory() is False:
        pytest.skip("this Linux libc has no malloc_trim")
    assert rss() < before - 200 * 2**20


def test_free_memory_skips_the_libc_step_off_linux(monkeypatch):
    from kit import device

    monkeypatch.setattr("sys.platform", "darwin")
    assert device.free_memory() is False
