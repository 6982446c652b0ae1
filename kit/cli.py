"""`python -m kit` (or `kit`): doctor, list, run, bench, student, progress, manifest."""
import argparse
import importlib.metadata
import os
import sys
from pathlib import Path

from kit.errors import KitError, NotWritableError, unknown

__all__ = ["main"]

KEY_LIBRARIES = ["torch", "transformers", "peft", "sentence-transformers", "bitsandbytes", "faiss-cpu",
                 "opacus", "flwr", "optuna", "captum", "scikit-learn", "jupyterlab", "ipywidgets"]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _check_writable() -> list[str]:
    """The cache (converted models) and the progress file's folder must be writable; say what to set if not."""
    from kit.paths import cache_dir, ensure_writable, progress_file

    problems = []
    places = [("cache", cache_dir(create=False), "KIT_CACHE")]
    if progress_file().parent != places[0][1]:
        places.append(("progress", progress_file().parent, "KIT_PROGRESS"))
    for label, folder, variable in places:
        try:
            ensure_writable(folder, variable)
            print(f"✓ {label:7s} {folder} (writable)")
        except NotWritableError as error:
            print(f"✗ {label:7s} {error}")
            problems.append(label)
    return problems


def _check_course_files() -> list[str]:
    """Every file the course wrote under datasets/ is present and matches datasets/MANIFEST."""
    from kit import data

    try:
        results = data.course_status()
    except KitError as error:
        print(f"✗ course  {error}")
        return ["course files"]
    bad = [(name, detail) for name, ok, detail in results if not ok]
    for name, detail in bad:
        print(f"✗ course  {name:18s} {detail}")
    if not bad:
        print(f"✓ course  {len(results)} files under datasets/ match datasets/MANIFEST")
    return [name for name, _ in bad]


def doctor(_args) -> int:
    """Python, device, library versions, profile, writable cache, and every model, dataset and course file."""
    from kit import data, device, models, profile

    print(f"device   {device.describe()}")
    old_python = sys.version_info < (3, 11)  # requires-python in pyproject.toml: the pinned numpy/scipy need 3.11+
    print(f"python   {sys.version.split()[0]}" + ("  ✗ the course needs Python 3.11-3.13. Fix: rm -rf .venv "
                                                   "&& make setup PYTHON=python3.11" if old_python else "  ✓"))
    print("versions " + ", ".join(f"{lib} {_version(lib)}" for lib in KEY_LIBRARIES))
    try:
        print(f"profile  {profile.name()}  (set KIT_PROFILE=smoke|cpu|gpu to change)")
    except KitError as error:
        print(f"profile  ✗ {error}")
        return 1
    problems = [lib for lib in KEY_LIBRARIES if _version(lib) == "missing"]
    if problems:
        print(f"✗ missing libraries: {', '.join(problems)}. Fix: make setup")
    problems += (["python"] if old_python else []) + _check_writable()
    for kind, registry in (("model", models), ("dataset", data)):
        for name in registry.names():
            ok, detail = registry.status(name)
            print(f"{'✓' if ok else '✗'} {kind:7s} {name:18s} {detail}")
            problems += [] if ok else [name]
    problems += _check_course_files()
    print("all models, datasets and course files are available offline" if not problems else
          f"{len(problems)} problem(s): do what the 'Fix:' on each ✗ line says")
    return 1 if problems else 0


def list_lessons(_args) -> int:
    from kit import lessons

    print(f"{'lesson':32s} {'smoke':>6s} {'cpu':>5s} {'gpu':>5s}  (estimated minutes)  teaches")
    for lesson in lessons.LESSONS:
        mark = "" if lesson.notebook.exists() else "  (not written yet)"
        m = lesson.minutes
        print(f"{lesson.stem:32s} {m.get('smoke', '?'):>6} {m.get('cpu', '?'):>5} {m.get('gpu', '?'):>5}  "
              f"{lesson.teaches}{mark}")
    return 0


def _targets(args):
    from kit import lessons

    if args.all:
        return lessons.notebook_paths()
    if not args.notebooks:
        raise KitError("Name one or more notebooks, or --all. Lessons: python -m kit list")
    paths = []
    for item in args.notebooks:
        path = Path(item)
        paths.append(path if path.suffix == ".ipynb" else lessons.get(item).notebook)
    return paths


def run(args) -> int:
    from kit import profile, runner

    if args.profile and args.profile not in profile.PROFILES:
        raise unknown("profile", args.profile, profile.PROFILES)
    if not args.profile and os.environ.get("KIT_PROFILE", "").strip():
        profile.name()  # a bad KIT_PROFILE fails here, before a kernel starts or the last results are replaced
    records = runner.run_many(_targets(args), args.profile)
    failed = [r["notebook"] for r in records if not r["ok"]]
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)} (executed copies in build/executed/)")
    return 1 if failed else 0


def bench(args) -> int:
    import json

    from kit import lessons, runner
    from kit.paths import BUILD

    if args.collect:  # tabulate the latest results already in build/results/ instead of re-running
        records = [json.loads((BUILD / "results" / f"{p.stem}.json").read_text(encoding="utf-8"))
                   for p in lessons.notebook_paths()
                   if (BUILD / "results" / f"{p.stem}.json").exists()]
        records = [r for r in records if r["profile"] == args.profile]
        if not records:
            raise KitError(f"No {args.profile} results in build/results/: "
                           f"run python -m kit run --all --profile {args.profile}")
    else:
        records = runner.run_many(lessons.notebook_paths(), args.profile)
    out = runner.write_bench(records, **({"out": Path(args.out)} if args.out else {}))
    print(f"wrote {out}")
    return 0 if all(r["ok"] for r in records) else 1


def student(args) -> int:
    from kit import student as student_copies

    written = (student_copies.sync_exercises(force=args.force) if args.sync
               else student_copies.build(force=args.force))
    for path in written:
        print(f"wrote {path}")
    return 0


def progress(args) -> int:
    from kit import exercises
    from kit.paths import progress_file

    state = exercises.progress()
    for exercise_id, passed in state.items():
        title = exercises.registered()[exercise_id].title
        print(f"{'✓' if passed else '·'} {exercise_id:6s} {title}")
    print(f"{sum(state.values())} of {len(state)} exercises passed (stored in {progress_file()})")
    if getattr(args, "report", None):
        from kit import progress_report

        target = None if args.report is True else Path(args.report).expanduser()
        try:
            out = progress_report.write(target)
        except OSError as error:
            raise KitError(f"The report could not be written to {target or progress_report.DEFAULT_PATH} "
                           f"({error.strerror or error}). Fix: name a file in a folder you can write, "
                           "e.g. python -m kit progress --report /tmp/progress-report.html") from None
        print(f"wrote {out} (one HTML file, works offline: open it in a browser)")
    return 0


def manifest(args) -> int:
    """Refresh datasets/MANIFEST rows for the course's own files (and package files with --packages)."""
    from kit import data
    from kit.paths import DATASETS, sha256

    rows = data.manifest() if data.MANIFEST.exists() else {}
    rows = {k: v for k, v in rows.items() if k[0] != "course" or (DATASETS / k[1]).exists()}
    for path in sorted(DATASETS.rglob("*")):
        name = path.relative_to(DATASETS).as_posix()
        if path.is_file() and name not in ("MANIFEST", "README.md"):
            old = rows.get(("course", name), {})
            rows[("course", name)] = {"dataset": "course", "file": name, "sha256": sha256(path),
                                      "bytes": path.stat().st_size,
                                      "source": old.get("source", "written for this course"),
                                      "licence": old.get("licence", "MIT (this course)")}
    if args.packages:
        rows.update(data.package_rows())
    data.write_manifest(rows)
    print(f"wrote {data.MANIFEST} ({len(rows)} files)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kit", description="The ML Training Trends Kit")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check device, libraries, models and datasets").set_defaults(func=doctor)
    sub.add_parser("list", help="list the lessons with their estimated minutes").set_defaults(func=list_lessons)
    p = sub.add_parser("run", help="execute lesson notebooks headlessly and record their results")
    p.add_argument("notebooks", nargs="*", help="notebook paths or lesson numbers (e.g. 00 02)")
    p.add_argument("--all", action="store_true", help="every lesson, in order")
    p.add_argument("--profile", choices=["smoke", "cpu", "gpu"],
                   help="default: KIT_PROFILE, else gpu with CUDA, cpu without")
    p.set_defaults(func=run)
    p = sub.add_parser("bench", help="run every lesson and write bench/results.md")
    p.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "gpu"])
    p.add_argument("--collect", action="store_true", help="tabulate existing build/results/ without re-running")
    p.add_argument("--out", help="where to write the table (default bench/results.md)")
    p.set_defaults(func=bench)
    p = sub.add_parser("student", help="build student copies of the exercises in build/student/")
    p.add_argument("--sync", action="store_true", help="regenerate exercises/NN_*.ipynb instead")
    p.add_argument("--force", action="store_true",
                   help="overwrite copies you edited (each is kept as NAME.bak-<time> first)")
    p.set_defaults(func=student)
    p = sub.add_parser("progress", help="which exercises you have passed")
    p.add_argument("--report", nargs="?", const=True, metavar="PATH",
                   help="also write an offline HTML completion report (default build/progress-report.html)")
    p.set_defaults(func=progress)
    p = sub.add_parser("manifest", help="refresh datasets/MANIFEST checksums")
    p.add_argument("--packages", action="store_true", help="also re-record the package data files")
    p.set_defaults(func=manifest)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for stream in (sys.stdout, sys.stderr):   # an ASCII-only terminal prints ? for ✓ instead of failing
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        return args.func(args)
    except (KitError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
