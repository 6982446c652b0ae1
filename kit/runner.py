"""Run lesson notebooks headlessly and write the results contract; `bench` turns runs into a table.

`run_notebook` executes a notebook in a fresh kernel (nbclient), samples the memory of the kernel
and everything it starts, saves the executed copy under build/executed/ and writes
build/results/<stem>.json = {notebook, profile, wall_s, peak_rss_mb, metrics}.
"""
import json
import os
import platform
import threading
import time
from pathlib import Path

from kit import lessons
from kit import profile as profiles
from kit.paths import BUILD, ROOT

__all__ = ["run_notebook", "run_many", "write_bench", "nudge_quiet_kernels", "slowest_cells", "cell_at"]


class _PeakMemory:
    """Samples the summed RSS and CPU time of this process's children (the kernel and what it spawns).

    CPU seconds matter beside wall time: on a busy machine wall time stretches, CPU time hardly does.
    """

    def __init__(self, every: float = 0.25):
        import psutil

        self._me, self._every, self.peak, self.peak_at, self._cpu = psutil.Process(), every, 0, None, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        import psutil

        while not self._stop.is_set():
            total = 0
            for child in self._me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                    times = child.cpu_times()
                    self._cpu[child.pid] = times.user + times.system
                except psutil.Error:
                    pass
            if total > self.peak:
                self.peak, self.peak_at = total, time.time()
            self._stop.wait(self._every)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def nudge_quiet_kernels(after: float = 10.0) -> None:
    """Headless runs (nbmake in `make test`, `kit run` and `make bench`): while waiting for a cell's reply,
    poke the kernel with a kernel_info_request after every `after` seconds of shell silence.

    A headless run hung for 10-20 minutes here, intermittently and under load: the kernel idle in epoll,
    nbclient waiting for a reply, until another client sent the kernel a request and the run went on.
    That is the signature of a lost ZeroMQ wake-up (as in ipykernel#1554 / #1529 for ipykernel 7), which
    any new request re-arms. A busy kernel just queues the pokes, and nbclient ignores their replies.
    A reply that reached us more than 5 s after the kernel wrote it, or a request the kernel began more
    than 5 s after we sent it, is logged to build/kernel-nudges.log, so a run says whether it was hit.
    The per-cell timeout (CELL_TIMEOUT in the Makefile) still fails a cell that no poke revives.
    The wait itself is bounded by `after` too: in a clean-clone `make test` on a quiet machine, four cell replies
    were delivered 59-60 s late with no poke sent (the asyncio poll woke only at its timeout and found the reply
    waiting), so a short `after` caps what each lost wake-up costs.
    """
    import time
    from datetime import UTC, datetime
    from queue import Empty

    try:
        from nbclient import NotebookClient
    except ImportError:
        return
    NotebookClient.kit_nudge_after = after          # read at each wait, so a later call can change it
    start = NotebookClient.async_start_new_kernel_client
    if getattr(start, "kit_nudges", False):
        return
    log = BUILD / "kernel-nudges.log"

    def _late(msg) -> str:
        now, sent = datetime.now(UTC), msg.get("header", {}).get("date")
        asked, started = msg.get("parent_header", {}).get("date"), msg.get("metadata", {}).get("started")
        notes = []
        if isinstance(sent, datetime) and (now - sent).total_seconds() > 5:
            notes.append(f"reply delivered {(now - sent).total_seconds():.0f} s after the kernel sent it")
        if isinstance(started, datetime) and isinstance(asked, datetime) and (started - asked).total_seconds() > 5:
            notes.append(f"request begun {(started - asked).total_seconds():.0f} s after it was sent")
        return "; ".join(notes)

    async def start_and_nudge(self):
        kc = await start(self)
        get_msg = kc.shell_channel.get_msg

        async def get_msg_nudging(timeout=None):
            deadline = None if timeout is None else time.monotonic() + timeout
            nudges = 0
            while True:
                every = NotebookClient.kit_nudge_after
                wait = every if deadline is None else min(every, max(0.0, deadline - time.monotonic()))
                try:
                    msg = await get_msg(timeout=wait)
                except Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise
                    kc.kernel_info()
                    nudges += 1
                    continue
                late = "" if msg.get("msg_type") == "kernel_info_reply" else _late(msg)
                if late:
                    log.parent.mkdir(exist_ok=True)
                    with log.open("a", encoding="utf-8") as f:
                        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg['msg_type']}: {late} "
                                f"({nudges} nudge(s) sent while waiting)\n")
                return msg

        kc.shell_channel.get_msg = get_msg_nudging
        return kc

    start_and_nudge.kit_nudges = True
    NotebookClient.async_start_new_kernel_client = start_and_nudge


def _error_summary(error) -> str:
    text = str(getattr(error, "ename", "") or type(error).__name__)
    value = getattr(error, "evalue", "") or str(error).strip().splitlines()[-1:]
    return f"{text}: {value if isinstance(value, str) else ' '.join(value)}"


def _read_results(path: Path) -> dict:
    """What the notebook recorded: {"metrics": ..., "claims": [...]} (an older flat file is all metrics)."""
    if not path.exists():
        return {"metrics": {}, "claims": []}
    data = json.loads(path.read_text(encoding="utf-8"))
    if "metrics" in data and isinstance(data["metrics"], dict):
        return {"metrics": data["metrics"], "claims": data.get("claims", [])}
    return {"metrics": data, "claims": []}


def _cell_spans(nb) -> list[dict]:
    """Each executed cell's index, start and end (Unix seconds, from the timestamps nbclient records in
    `metadata.execution`) and first non-blank line."""
    from datetime import datetime

    spans = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            begin, end = (datetime.fromisoformat(stamps[k].replace("Z", "+00:00")).timestamp()
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            spans.append({"cell": index, "begin": begin, "end": end, "starts": first[:60]})
    return spans


def slowest_cells(nb, n: int = 3) -> list[dict]:
    """The `n` cells that took longest in an executed notebook: [{"cell": index, "seconds": s, "starts":
    first line}], slowest first. Where a lesson's minutes go, so a budget is cut where it is spent."""
    timed = [{"cell": span["cell"], "seconds": round(span["end"] - span["begin"], 1), "starts": span["starts"]}
             for span in _cell_spans(nb)]
    return sorted(timed, key=lambda row: -row["seconds"])[:n]


def cell_at(nb, when: float | None) -> dict | None:
    """The executed cell that was running at Unix time `when` (e.g. the moment memory peaked), or None."""
    for span in _cell_spans(nb):
        if when is not None and span["begin"] <= when <= span["end"] + 0.5:
            return {"cell": span["cell"], "starts": span["starts"]}
    return None


def run_notebook(path, profile: str | None = None, timeout: int = 1800) -> dict:
    """Execute one notebook headlessly and return (and save) its results record."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"No notebook at {path}. Lessons: python -m kit list")
    profile = profiles.resolve(profile)
    (BUILD / "results").mkdir(parents=True, exist_ok=True)
    (BUILD / "executed").mkdir(parents=True, exist_ok=True)
    metrics_file = BUILD / "results" / f".{path.stem}.metrics.json"
    metrics_file.unlink(missing_ok=True)
    saved = {k: os.environ.get(k) for k in ("KIT_PROFILE", "KIT_RESULTS_FILE", "KIT_HEADLESS")}
    os.environ.update(KIT_PROFILE=profile, KIT_RESULTS_FILE=str(metrics_file), KIT_HEADLESS="1")
    nb = nbformat.read(path, as_version=4)
    nudge_quiet_kernels()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error, start = None, time.perf_counter()
    try:
        with _PeakMemory() as memory:
            client.execute()
    except Exception as exc:  # a failing cell: reported, and the run exits non-zero
        error = exc
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    wall = time.perf_counter() - start
    nbformat.write(nb, BUILD / "executed" / path.name)
    results = _read_results(metrics_file)
    record = {"notebook": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
              "profile": profile, "wall_s": round(wall, 1), "cpu_s": round(memory.cpu_seconds, 1),
              "peak_rss_mb": round(memory.peak / 2**20),
              "metrics": results["metrics"], "claims": results["claims"], "ok": error is None,
              "slowest_cells": slowest_cells(nb), "peak_memory_cell": cell_at(nb, memory.peak_at)}
    if error is not None:
        record["error"] = _error_summary(error)
    (BUILD / "results" / f"{path.stem}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    return record


def run_many(paths, profile: str | None = None) -> list[dict]:
    """Run notebooks one after another, printing a progress line for each."""
    records = []
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {Path(path).name} (profile {profiles.resolve(profile)}) ...",
              flush=True)
        record = run_notebook(path, profile)
        status = "ok" if record["ok"] else f"FAILED: {record['error']}"
        print(f"    {status} | {record['wall_s']:.0f} s wall, {record['cpu_s']:.0f} s CPU | "
              f"peak {record['peak_rss_mb']} MB | "
              f"{len(record['metrics'])} metrics -> build/results/{Path(path).stem}.json", flush=True)
        if record["peak_memory_cell"]:
            print(f"      memory peaked in cell {record['peak_memory_cell']['cell']}: "
                  f"{record['peak_memory_cell']['starts']}", flush=True)
        for cell in record["slowest_cells"]:
            print(f"      {cell['seconds']:6.0f} s  cell {cell['cell']}: {cell['starts']}", flush=True)
        records.append(record)
    return records


def _machine() -> str:
    import torch

    from kit import device

    cores = device.available_cores()
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        memory = "?"
    return (f"{platform.machine()}, {cores} cores, {memory} RAM, {device.describe()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def _claim_cell(claim: dict) -> str:
    """One claim as the bench table shows it: verdict, effect [CI] vs baseline, and its control."""
    low, high = claim["ci"]
    text = f"{'✓' if claim['holds'] else '✗'} {claim['name']}: {claim['effect']:+.3g} [{low:+.3g}, {high:+.3g}] " \
           f"vs {claim['baseline']}"
    if claim.get("negative_control"):
        verdict = {True: "rejected", False: "NOT rejected"}.get(claim.get("control_rejected"), "not checked")
        text += f" (control: {claim['negative_control']}, {verdict})"
    return text


def write_bench(records: list[dict], out: Path = ROOT / "bench" / "results.md") -> Path:
    """Write the benchmark table: per lesson wall time, peak memory, and each claim pass/fail."""
    lines = ["# Benchmark: every lesson under one profile", "",
             f"Machine: {_machine()}  ", f"Date: {time.strftime('%Y-%m-%d')}  ",
             f"Profile: {records[0]['profile'] if records else '?'}", "",
             "CPU time is the kernel's (and its children's) user + system seconds: on a busy machine wall time",
             "stretches while CPU time hardly does, so CPU time / cores is a floor for the time on an idle "
             "machine.", "",
             "| lesson | ok | wall time | CPU time | budget | peak memory | metrics | claims |",
             "|---|---|---|---|---|---|---|---|"]
    for record in records:
        lesson = lessons.get(Path(record["notebook"]).stem)
        budget = lesson.minutes.get(record["profile"])
        metrics = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                            for k, v in record["metrics"].items())
        claims = [_claim_cell(claim) for claim in record.get("claims", [])]
        for target in lesson.targets:
            verdict = lessons.check_target(target, record["metrics"])
            claims.append(f"{'✓' if verdict else '✗' if verdict is False else '?'} `{target}`")
        cpu = f"{record['cpu_s'] / 60:.1f} min" if record.get("cpu_s") else "–"
        within = "" if budget is None else (" ✓" if record["wall_s"] <= budget * 60 else " ✗")
        lines.append(f"| {lesson.number} {lesson.title} | {'✓' if record['ok'] else '✗ ' + record.get('error', '')} "
                     f"| {record['wall_s'] / 60:.1f} min{within} | {cpu} | {budget} min | {record['peak_rss_mb']} MB "
                     f"| {metrics} | {'<br>'.join(claims)} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
