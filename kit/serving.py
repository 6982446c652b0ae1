"""Deploy what a search found: export without pickle, serve over HTTP on 127.0.0.1, check the service.

    serving.export(pipe, "model.skops", feature_names, classes)   # skops.io: no pickle
    bundle = serving.load("model.skops")                          # refuses a file with untrusted types
    app = serving.make_app(bundle)                                # FastAPI: POST /predict, GET /health
    with serving.Service(app) as service:                         # uvicorn on 127.0.0.1, a free port
        serving.predict(service.url, rows)                        # -> labels, as the notebook predicts
        serving.latency_ms(service.url, rows, n=200)              # -> {"p50": ..., "p95": ...}
    # leaving the block stops the server and frees the port

A pickle file runs code when it is loaded, so a model from someone else must never be unpickled.
skops.io stores a scikit-learn object as data and, on load, builds only the types the reader trusts
(scikit-learn's own, numpy's); anything else is named and refused.
"""
import os
import socket
import statistics
import threading
import time
from pathlib import Path

import numpy as np

__all__ = ["SKLEARN_INTERNALS", "export", "load", "make_app", "Service", "predict", "latency_ms", "port_is_free"]


# scikit-learn's own helper classes that skops does not trust by default (an MLP keeps its optimiser's state).
# They are imported from the installed scikit-learn, never from the file: reviewed, and safe to trust by name.
SKLEARN_INTERNALS = ("sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
                     "sklearn.neural_network._stochastic_optimizers.SGDOptimizer")


def export(pipe, path, feature_names, classes) -> Path:
    """Save a fitted scikit-learn pipeline with its input schema (feature names) and class names, atomically."""
    import skops.io as sio

    if not hasattr(pipe, "predict"):
        raise TypeError(f"export needs a fitted scikit-learn estimator, got {type(pipe).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sio.dump({"model": pipe, "feature_names": [str(f) for f in feature_names],
              "classes": [str(c) for c in classes]}, partial)
    os.replace(partial, path)
    return path


def load(path, trusted=()) -> dict:
    """Load an exported bundle, refusing any type outside skops' default trusted set and the type names in
    `trusted` (ones you reviewed, e.g. `SKLEARN_INTERNALS`). No code from the file runs on load."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: export a model first with serving.export(pipe, path, ...)")
    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
    if untrusted:
        raise ValueError(f"{path} holds types that are not trusted by default: {', '.join(untrusted)}. "
                         "Refusing to load it; inspect the file and pass only types you trust.")
    bundle = sio.load(path, trusted=list(trusted))
    if not isinstance(bundle, dict) or not {"model", "feature_names", "classes"} <= set(bundle):
        raise ValueError(f"{path} is not a bundle written by serving.export (model, feature_names, classes)")
    return bundle


def make_app(bundle: dict, max_rows: int = 1000):
    """A FastAPI app for an exported bundle: GET /health, POST /predict {"rows": [[...], ...]}.

    The request schema is pydantic's: a row with the wrong number of values, a string, or an empty list
    gets HTTP 422 with a message that names the field and the expected count, never a traceback.
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    model, names, classes = bundle["model"], bundle["feature_names"], bundle["classes"]
    width = len(names)

    class Rows(BaseModel):
        rows: list[list[float]] = Field(min_length=1, max_length=max_rows,
                                        description=f"rows of {width} numbers: {', '.join(names[:5])}, ...")

    app = FastAPI(title="lesson 07: the searched pipeline", version="1")

    @app.exception_handler(RequestValidationError)
    async def explain(request: Request, error: RequestValidationError):
        messages = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in error.errors()[:5]]
        return JSONResponse(status_code=422, content={"error": "; ".join(messages),
                                                      "expected": f'{{"rows": [[{width} numbers], ...]}}'})

    @app.get("/health")
    def health():
        return {"status": "ok", "features": width, "classes": classes}

    @app.post("/predict")
    def predict(body: Rows):
        wrong = [i for i, row in enumerate(body.rows) if len(row) != width]
        if wrong:
            return JSONResponse(status_code=422, content={
                "error": f"row {wrong[0]} has {len(body.rows[wrong[0]])} values; the model needs {width} "
                         f"({', '.join(names[:3])}, ...)", "expected": f'{{"rows": [[{width} numbers], ...]}}'})
        X = np.asarray(body.rows, dtype=float)
        if not np.isfinite(X).all():
            return JSONResponse(status_code=422, content={"error": "rows hold NaN or infinite values"})
        labels = model.predict(X)
        return {"labels": [classes[int(i)] for i in labels]}   # y holds class indices, as in kit.data

    return app


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (used to check that a service really stopped)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) != 0


class Service:
    """Run an ASGI app with uvicorn in a background thread on 127.0.0.1 (a free port) until `stop()`.

    Use it as a context manager so the server stops even when a check in the block fails.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 20):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the course serves on the loopback address only, not {host!r}")
        self.app, self.host, self.port, self.start_timeout_s = app, host, port, start_timeout_s
        self._server = self._thread = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Service":
        import uvicorn

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the service did not start on {self.url} within {self.start_timeout_s} s")
            time.sleep(0.05)
        return self

    def stop(self, timeout_s: float = 10) -> None:
        """Ask uvicorn to finish its requests and exit; wait for the thread (the port is free afterwards)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise RuntimeError(f"the service on {self.url} did not stop within {timeout_s} s")
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def predict(url: str, rows, timeout_s: float = 10) -> list:
    """Labels from a running service for `rows` (a 2-D array or nested lists)."""
    import httpx

    response = httpx.post(f"{url}/predict", json={"rows": np.asarray(rows, dtype=float).tolist()}, timeout=timeout_s)
    response.raise_for_status()
    return response.json()["labels"]


def latency_ms(url: str, rows, n: int = 200, timeout_s: float = 10) -> dict:
    """Round-trip time of `n` single-row requests over one keep-alive connection: p50, p95 and mean (ms)."""
    import httpx

    rows = np.asarray(rows, dtype=float)
    times = []
    with httpx.Client(base_url=url, timeout=timeout_s) as client:
        client.post("/predict", json={"rows": rows[:1].tolist()}).raise_for_status()  # warm-up
        for i in range(n):
            start = time.perf_counter()
            client.post("/predict", json={"rows": rows[i % len(rows)][None].tolist()}).raise_for_status()
            times.append(1000 * (time.perf_counter() - start))
    cuts = statistics.quantiles(times, n=20)
    return {"n": n, "p50": statistics.median(times), "p95": cuts[18], "mean": statistics.fmean(times)}
