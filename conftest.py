"""Test-wide settings: every notebook and test runs under the CI profile, headless, with strict
exercise checks, and with its own progress file so a test run never touches a learner's."""
import os
import tempfile

os.environ.setdefault("KIT_PROFILE", "smoke")
os.environ.setdefault("KIT_HEADLESS", "1")
os.environ.setdefault("KIT_EXERCISES_STRICT", "1")
os.environ.setdefault("KIT_PROGRESS", os.path.join(tempfile.mkdtemp(prefix="kit-progress-"), "progress.json"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")



def _nudge_quiet_kernels(after: float = 60.0) -> None:
    """Headless runs (nbmake in `make test`): while waiting for a cell's reply, poke the kernel with a
    kernel_info_request after every `after` seconds of shell silence.

    A headless run hung for 10-20 minutes here, intermittently and under load: the kernel idle in epoll,
    nbclient waiting for a reply, until another client sent the kernel a request and the run went on.
    That is the signature of a lost ZeroMQ wake-up (as in ipykernel#1554 / #1529 for ipykernel 7), which
    any new request re-arms. A busy kernel just queues the pokes, and nbclient ignores their replies.
    A reply that reached us more than 5 s after the kernel wrote it, or a request the kernel began more
    than 5 s after we sent it, is logged to build/kernel-nudges.log, so a run says whether it was hit.
    The per-cell timeout (CELL_TIMEOUT in the Makefile) still fails a cell that no poke revives.
    """
    import time
    from datetime import UTC, datetime
    from pathlib import Path
    from queue import Empty

    try:
        from nbclient import NotebookClient
    except ImportError:
        return
    start = NotebookClient.async_start_new_kernel_client
    if getattr(start, "kit_nudges", False):
        return
    log = Path(__file__).resolve().parent / "build" / "kernel-nudges.log"

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
                wait = after if deadline is None else min(after, max(0.0, deadline - time.monotonic()))
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


_nudge_quiet_kernels()
