"""The headless runner's kernel nudge: a quiet kernel is poked with kernel_info requests while a cell runs,
and the run still gets each cell's own reply (a nudge's reply is never mistaken for it)."""
import nbformat
from jupyter_client.asynchronous.client import AsyncKernelClient
from nbclient import NotebookClient

from kit.runner import nudge_quiet_kernels


def _run_counting_pokes(monkeypatch, every: float) -> tuple[int, str]:
    pokes = []
    original = AsyncKernelClient.kernel_info

    def counting(self, *args, **kwargs):
        pokes.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncKernelClient, "kernel_info", counting)
    nudge_quiet_kernels(after=every)
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(2.5); x = 41"),
                                             nbformat.v4.new_code_cell("print(x + 1)")])
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    finally:
        nudge_quiet_kernels()
    return len(pokes), nb.cells[1].outputs[0]["text"].strip()


def test_a_quiet_kernel_is_nudged_and_the_cells_still_run(monkeypatch):
    quiet, out_quiet = _run_counting_pokes(monkeypatch, every=1000)    # start-up's own kernel_info requests only
    nudged, out_nudged = _run_counting_pokes(monkeypatch, every=0.5)
    assert out_quiet == out_nudged == "42"
    assert nudged >= quiet + 3, f"a 2.5 s cell polled every 0.5 s should add several pokes: {quiet} -> {nudged}"


def test_slowest_cells_reads_nbclient_timestamps():
    from datetime import datetime

    import nbformat

    from kit.runner import cell_at, slowest_cells

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in ("a = 1", "\n\ntrain()", "b")])
    for cell, (begin, end) in zip(nb.cells, [("00:00:00", "00:00:01"), ("00:00:01", "00:01:31"), (None, None)]):
        if begin:
            cell.metadata["execution"] = {"iopub.execute_input": f"2026-12-03T{begin}.000000Z",
                                          "shell.execute_reply": f"2026-12-03T{end}.500000Z"}
    rows = slowest_cells(nb, n=5)
    assert [r["cell"] for r in rows] == [1, 0]          # the unexecuted cell is left out; slowest first
    assert rows[0] == {"cell": 1, "seconds": 90.5, "starts": "train()"}
    during = datetime.fromisoformat("2026-12-03T00:00:40+00:00").timestamp()
    assert cell_at(nb, during) == {"cell": 1, "starts": "train()"}
    assert cell_at(nb, during + 3600) is None and cell_at(nb, None) is None
