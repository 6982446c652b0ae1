"""Federated learning on Flower: the lesson's ClientApp and ServerApps, SecAgg+, the deployment engine.

    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    history = {}
    run_simulation(server_app=federated.server_app(FedAvg(fraction_evaluate=0.0), 5, history, alpha=0.3),
                   client_app=federated.client_app, num_supernodes=10, backend_config=federated.BACKEND)
    history["acc"]          # global test accuracy after each round (round 0 = the initial model)

Every client reads its own shard of mnist5k (picked by its `partition-id`, the same split on every
machine), so the same `client_app` runs in Ray's simulation and as a real SuperNode process.
`kit/flower_app` is the Flower project that `flwr run` ships to a SuperLink, and `kit.deploy.Deployment`
starts a SuperLink and SuperNodes to run it (re-exported here; see docs/federated.md).
"""
import functools
import os
import time
from pathlib import Path

import numpy as np
import torch

from kit import privacy
from kit.deploy import APP_DIR, Deployment, free_port

__all__ = ["BACKEND", "APP_DIR", "Deployment", "free_port", "client_data", "test_data", "straggler_work",
           "central_eval", "client_app", "server_app", "secagg_apps", "SecAggView", "dp_when_asked",
           "client_level_epsilon", "simulate", "start_ray"]

# A loaded machine (2 shared cores) starts Ray's helper processes slowly: Ray's raylet gives up on its
# agent after 30 s and the driver gives up on the raylet after 30 s. Let both wait up to 5 minutes.
for _key, _value in {"RAY_agent_register_timeout_ms": "300000", "RAY_raylet_start_wait_time_s": "300",
                     "RAY_worker_register_timeout_seconds": "300"}.items():
    os.environ.setdefault(_key, _value)


def _patient_ray(seconds: float = 300):
    """Make `ray.init` wait for a slow raylet instead of failing after its fixed 30 s."""
    import ray._private.services as services

    original = services.get_node
    if getattr(original, "_kit_patient", False):
        return

    def get_node(*args, **kwargs):
        import threading

        deadline = time.monotonic() + seconds
        while True:
            # Ray's own call blocks forever when the raylet died before registering: ask in a daemon thread
            # and stop waiting as soon as the raylet's log says it aborted (start_ray then starts Ray again).
            result = {}

            def ask(result=result):
                try:
                    result["node"] = original(*args, **kwargs)
                except Exception as error:  # noqa: BLE001 - handed back to the waiting thread below
                    result["error"] = error

            asking = threading.Thread(target=ask, daemon=True)
            asking.start()
            while asking.is_alive():
                asking.join(1)
                if _raylet_crashed():
                    raise RuntimeError("Ray's raylet aborted while starting (see raylet.out in its session folder)")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Ray's raylet did not register within {seconds:.0f} s")
            if "node" in result:
                return result["node"]
            if not isinstance(result["error"], RuntimeError) or time.monotonic() > deadline:
                raise result["error"]
            time.sleep(1)

    get_node._kit_patient = True
    services.get_node = get_node
    _fixed_agent_ports()


def _raylet_crashed() -> bool:
    """True when the raylet of this process's newest Ray session aborted (it then never comes up: stop waiting).
    A session's folder ends with the pid of the process that started it; other users' sessions are not ours."""
    import tempfile

    sessions = sorted(Path(tempfile.gettempdir(), "ray").glob(f"session_*_{os.getpid()}"))
    try:
        return bool(sessions) and "Check failed" in (sessions[-1] / "logs" / "raylet.out").read_text(
            encoding="utf-8", errors="replace")
    except OSError:
        return False


def start_ray(attempts: int = 6):
    """Start Ray for a simulation with `BACKEND`'s settings, again (up to `attempts` times) when it fails to start.

    A heavily loaded machine sometimes makes the raylet abort while it waits for its agents. Inside
    `run_simulation` that failure happens in a background thread and the simulation then waits forever for
    its SuperNodes (the kernel goes idle); started here, in the main thread, it is seen and retried.
    """
    import ray

    for attempt in range(1, attempts + 1):
        if ray.is_initialized():
            return
        try:
            ray.init(**BACKEND["init_args"])
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts:
                raise
            print(f"Ray failed to start on this busy machine (attempt {attempt} of {attempts}); starting it again")


def simulate(server_app, client_app, num_supernodes: int):
    """`flwr.simulation.run_simulation` with the kit's Ray settings, after `start_ray` (Flower reuses a running
    Ray and shuts it down at the end)."""
    from flwr.simulation import run_simulation

    start_ray()
    return run_simulation(server_app=server_app, client_app=client_app, num_supernodes=num_supernodes,
                          backend_config=BACKEND)


def _fixed_agent_ports():
    """Give Ray's agents their ports up front. Left at 0, the raylet waits a fixed ~15 s for the dashboard agent
    to write each port to a file, and on a loaded machine it aborts ("Check failed ... Timed out waiting for file
    .../metrics_agent_port", "metrics_export_port" or "dashboard_agent_listen_port"): Ray then never starts and
    `ray.init` waits in vain. With every port given, the raylet waits for no file."""
    import ray._private.services as services

    original = services.start_raylet
    if getattr(original, "_kit_ports", False):
        return

    def start_raylet(*args, **kwargs):
        import inspect

        from ray._raylet import get_port_filename

        call = inspect.signature(original).bind_partial(*args, **kwargs).arguments
        for name in ("metrics_agent_port", "metrics_export_port", "runtime_env_agent_port",
                     "dashboard_agent_listen_port"):
            if not kwargs.get(name):
                kwargs[name] = free_port()
            if name != "runtime_env_agent_port" and call.get("session_dir") and call.get("node_id"):
                # the port files the raylet would otherwise wait for (the agent writes the same ports later)
                Path(call["session_dir"], get_port_filename(call["node_id"], name)).write_text(
                    str(kwargs[name]), encoding="utf-8")
        return original(*args, **kwargs)

    start_raylet._kit_ports = True
    services.start_raylet = start_raylet


_patient_ray()
# One Ray actor per core, one core per client; no dashboard. Ray workers inherit this process's env.
BACKEND = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
           "init_args": {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}}


@functools.lru_cache(maxsize=4)
def _dataset(n_train: int, n_test: int):
    from kit import data

    return data.load("mnist5k").subset(n_train or None, n_test or None)


def client_data(partition_id: int, num_partitions: int, alpha: float = 0.0, n_train: int = 0, seed: int = 0):
    """One client's (X, y) shard: IID when alpha <= 0, else Dirichlet(alpha) label skew."""
    d = _dataset(n_train, 0)
    parts = privacy.partition(d.y_train, num_partitions, alpha=alpha if alpha > 0 else None, seed=seed)
    index = parts[partition_id]
    return d.X_train[index], d.y_train[index]


def test_data(n_test: int = 0):
    """The shared test set the server scores the global model on."""
    d = _dataset(0, n_test)
    return d.X_test, d.y_test


def _arrays_to_model(arrays):
    from flwr.app import ArrayRecord

    model = privacy.make_model()
    model.load_state_dict(arrays.to_torch_state_dict() if isinstance(arrays, ArrayRecord) else arrays)
    return model


def straggler_work(partition_id: int, server_round: int, share: float) -> float:
    """How much of its local work a client finishes before a round's deadline: 1.0 for most clients; for a share
    `share` of them, drawn afresh each round (the same draw in every experiment), a fraction in [0.1, 0.5) of one
    epoch. Under `straggler-mode = "drop"` such a client sends no update at all (a dropout, as FedAvg's deadline
    treats it); under `"partial"` it sends what it managed (FedProx's setting, Li et al. 2020)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the stragglers' share must be between 0 and 1, got {share}")
    rng = np.random.default_rng([partition_id, server_round, 7])
    late, fraction = rng.random(), rng.uniform(0.1, 0.5)
    return float(fraction) if late < share else 1.0


# --- the ClientApp (Message API) -------------------------------------------------------------

def _make_client_app():
    from flwr.app import ArrayRecord, Context, Error, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        """Train the global model on this client's shard and send back the new weights."""
        torch.set_num_threads(1)
        cfg = msg.content["config"]
        pid, n = int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
        X, y = client_data(pid, n, float(cfg.get("alpha", 0.0)), int(cfg.get("n-train", 0)))
        n_examples = len(y)           # a straggler's update still speaks for its whole shard
        epochs = int(cfg.get("epochs", 1))
        if cfg.get("hetero", False):  # slow and fast devices: client k does 1 + k % epochs local epochs
            epochs = 1 + pid % epochs
        server_round = int(cfg.get("server-round", 0))
        work = straggler_work(pid, server_round, float(cfg.get("stragglers", 0.0)))
        if work < 1.0:                # this round, the client misses the deadline
            if cfg.get("straggler-mode", "drop") == "drop":
                return Message(error=Error(code=0, reason=f"client {pid} missed the round's deadline (dropped)"),
                               reply_to=msg)
            done = np.random.default_rng([pid, server_round]).permutation(len(y))[:max(1, int(work * len(y)))]
            X, y, epochs = X[done], y[done], 1      # partial work: part of one epoch
        model = _arrays_to_model(msg.content["arrays"])
        loss = privacy.local_train(model, X, y, epochs=epochs, lr=float(cfg.get("lr", 0.05)),
                                   proximal_mu=float(cfg.get("proximal-mu", 0.0)), seed=pid)
        metrics = MetricRecord({"train_loss": loss, "num-examples": n_examples})
        return Message(content=RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics}),
                       reply_to=msg)

    return app


client_app = _make_client_app()


# --- client-side DP mods, switched on per experiment by the round's config ------------------------

def dp_when_asked(msg, context, call_next):
    """A client mod that runs Flower's own DP mods only when the round's config asks for them.

    `DifferentialPrivacyClientSideFixedClipping` puts its clipping norm in the config: then
    `flwr.clientapp.mod.fixedclipping_mod` clips the update (the server adds the noise). A config with
    `local-dp-epsilon` (and `local-dp-clip`) runs `LocalDpMod`: clip AND add noise on the client, per round.
    One ClientApp thus serves plain and private experiments in the same simulation.
    """
    from flwr.clientapp.mod import LocalDpMod, fixedclipping_mod
    from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

    config = msg.content["config"] if "config" in msg.content.config_records else {}
    if KEY_CLIPPING_NORM in config:
        return fixedclipping_mod(msg, context, call_next)
    if "local-dp-epsilon" in config:
        clip = float(config["local-dp-clip"])
        mod = LocalDpMod(clipping_norm=clip, sensitivity=clip, epsilon=float(config["local-dp-epsilon"]),
                         delta=privacy.DELTA)
        return mod(msg, context, call_next)
    return call_next(msg, context)


def client_level_epsilon(noise_multiplier: float, rounds: int, sample_rate: float = 1.0,
                         delta: float = privacy.DELTA) -> float:
    """Epsilon at `delta` for one CLIENT's whole data over `rounds` of central DP (Gaussian noise of
    noise_multiplier x clipping norm on the sum, a share `sample_rate` of clients per round), by Opacus's RDP."""
    from opacus.accountants import RDPAccountant

    if noise_multiplier <= 0:
        return float("inf")
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, rounds)]
    return float(accountant.get_epsilon(delta))


# --- the ServerApp -----------------------------------------------------------------------------

def central_eval(n_test):
    X, y = test_data(n_test)

    def evaluate(server_round, arrays):
        from flwr.app import MetricRecord

        return MetricRecord({"accuracy": privacy.accuracy(_arrays_to_model(arrays), X, y)})
    return evaluate


def server_app(experiments: dict, num_rounds: int, history: dict, n_test: int = 0, **common_config):
    """A ServerApp that runs each experiment {name: (strategy, train_config)} in turn on the same clients.

    One simulation (one Ray start) serves several strategies: clients are stateless and read their
    partition and training recipe from each round's config (alpha, n_train, epochs, lr, hetero;
    FedProx adds its own `proximal-mu`). `history[name]` gets `acc` (round 0 = the initial model),
    `seconds` and the final `arrays`.
    """
    from flwr.app import ArrayRecord, ConfigRecord, Context
    from flwr.serverapp import Grid, ServerApp

    if num_rounds < 1:
        raise ValueError(f"num_rounds must be at least 1, got {num_rounds}")
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        for name, (strategy, train_config) in experiments.items():
            config = ConfigRecord({k.replace("_", "-"): v for k, v in {**common_config, **train_config}.items()})
            start = time.perf_counter()
            result = strategy.start(grid=grid, initial_arrays=ArrayRecord(privacy.make_model().state_dict()),
                                    num_rounds=num_rounds, train_config=config, evaluate_fn=central_eval(n_test))
            scores = result.evaluate_metrics_serverapp
            history[name] = {"acc": [float(scores[r]["accuracy"]) for r in sorted(scores)],
                             "seconds": time.perf_counter() - start, "arrays": result.arrays}

    return app


# --- secure aggregation (SecAgg+, through Flower's legacy workflow API) --------------------------

class SecAggView:
    """What the server could look at in a plain run and in a SecAgg+ run (filled by `secagg_apps`).

    `seen[mode]`: the client updates the strategy received in round 1 (plain: one per client;
    secagg: every entry carries the same unmasked aggregate, see `distinct_updates`); `seconds[mode]`,
    `acc[mode]`; and from the client side (files in `spy_dir`) what actually left each client and how many bytes.
    """

    def __init__(self, spy_dir):
        self.spy_dir = Path(spy_dir)
        self.spy_dir.mkdir(parents=True, exist_ok=True)
        for old in self.spy_dir.glob("*"):
            old.unlink()
        self.seen, self.seconds, self.acc = {}, {}, {}

    def distinct_updates(self, mode: str) -> int:
        """How many different client updates the strategy received in round 1 (SecAgg+: only the sum)."""
        firsts = [np.asarray(update[0]) for update in self.seen.get(mode, [])]
        return len({a.tobytes() for a in firsts})

    def upload(self, mode: str, node: int = 0):
        """The first array client `node` sent in `mode` ('plain' or 'secagg')."""
        return np.load(self.spy_dir / f"{mode}-node{node}.npy")

    def upload_bytes(self, mode: str) -> int:
        """Bytes all clients sent in `mode` (arrays and protocol fields), summed over messages."""
        return sum(int(p.read_text(encoding="utf-8")) for p in self.spy_dir.glob(f"{mode}-*.bytes"))


_SECAGG_KEY = "secaggplus_configs"   # flwr.common.secure_aggregation.secaggplus_constants.RECORD_KEY_CONFIGS
_MASKED_KEY = "masked_params"        # ... .Key.MASKED_PARAMETERS: the masked, quantized update a client uploads


def _spy_mod(msg, context, call_next):
    """Outermost client mod: records what actually leaves the client (after SecAgg+ masked it)."""
    mode = "secagg" if _SECAGG_KEY in msg.content.config_records else "plain"
    reply = call_next(msg, context)
    spy = os.environ.get("KIT_SECAGG_SPY")
    if not spy or reply.has_error():
        return reply
    nbytes, first = 0, None
    for record in reply.content.array_records.values():
        for arr in record.values():
            nbytes += len(arr.data)
            first = arr.numpy() if first is None else first
    for record in reply.content.config_records.values():
        for key, value in record.items():
            values = value if isinstance(value, list) else [value]
            nbytes += sum(len(v) if isinstance(v, bytes) else 8 for v in values)
            if key == _MASKED_KEY:  # SecAgg+ prepends a 1-element weight factor: take the first real tensor
                from flwr.common import bytes_to_ndarray

                first = next((a for a in map(bytes_to_ndarray, values) if a.size > 1000), first)
    pid = context.node_config["partition-id"]
    Path(spy, f"{mode}-{pid}-{msg.metadata.message_id[:12]}.bytes").write_text(str(nbytes), encoding="utf-8")
    if first is not None and first.size > 1000:
        np.save(Path(spy, f"{mode}-node{pid}.npy"), first)
    return reply


def _secagg_when_asked(msg, context, call_next):
    """Run Flower's secaggplus_mod only on messages of the SecAgg+ protocol (plain rounds pass through)."""
    from flwr.client.mod import secaggplus_mod

    if _SECAGG_KEY in msg.content.config_records:
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


def secagg_apps(view: SecAggView, num_rounds: int, n_clients: int, alpha: float = 0.0, n_train: int = 0,
                n_test: int = 0):
    """(server_app, client_app): legacy FedAvg for `num_rounds` in the clear, then again with SecAgg+."""
    from flwr.client import NumPyClient
    from flwr.clientapp import ClientApp
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.strategy import FedAvg
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
    from flwr.serverapp import ServerApp

    if n_clients < 3:
        raise ValueError(f"SecAgg+ needs at least 3 clients (its secret shares need num_shares > 2), got {n_clients}")
    keys = list(privacy.make_model().state_dict())

    def to_model(ndarrays):
        return _arrays_to_model(dict(zip(keys, (torch.tensor(a) for a in ndarrays))))

    class Client(NumPyClient):
        def __init__(self, pid):
            self.pid = pid

        def fit(self, parameters, config):
            torch.set_num_threads(1)
            model = to_model(parameters)
            X, y = client_data(self.pid, n_clients, alpha, n_train)
            privacy.local_train(model, X, y, epochs=1, seed=self.pid)
            return [v.numpy() for v in model.state_dict().values()], len(y), {}

    def client_fn(context):
        return Client(int(context.node_config["partition-id"])).to_client()

    X, y = test_data(n_test)
    server = ServerApp()

    @server.main()
    def main(grid, context):
        # a one-round warm-up first, so that starting the client workers is not billed to either mode
        for mode in ("warmup", "plain", "secagg"):
            view.acc[mode] = []

            class SeeingFedAvg(FedAvg):
                seen_as = mode  # bound now: the method runs later

                def aggregate_fit(self, server_round, results, failures):
                    if server_round == 1:
                        view.seen[self.seen_as] = [parameters_to_ndarrays(fit.parameters) for _, fit in results]
                    return super().aggregate_fit(server_round, results, failures)

            def evaluate(server_round, ndarrays, config, mode=mode):
                view.acc[mode].append(privacy.accuracy(to_model(ndarrays), X, y))
                return 0.0, {"accuracy": view.acc[mode][-1]}

            start_weights = [v.numpy() for v in privacy.make_model().state_dict().values()]
            strategy = SeeingFedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n_clients,
                                    min_available_clients=n_clients, evaluate_fn=evaluate,
                                    initial_parameters=ndarrays_to_parameters(start_weights))
            rounds = 1 if mode == "warmup" else num_rounds
            legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=rounds), strategy=strategy)
            fit = SecAggPlusWorkflow(num_shares=n_clients, reconstruction_threshold=max(2, n_clients - 1)) \
                if mode == "secagg" else None
            start = time.perf_counter()
            DefaultWorkflow(fit_workflow=fit)(grid, legacy)
            view.seconds[mode] = time.perf_counter() - start
            if mode == "warmup":  # its uploads were recorded as plain ones: forget them
                for old in view.spy_dir.glob("plain-*"):
                    old.unlink()
        for record in (view.acc, view.seconds, view.seen):
            record.pop("warmup", None)

    os.environ["KIT_SECAGG_SPY"] = str(view.spy_dir)  # Ray's workers inherit it
    return server, ClientApp(client_fn=client_fn, mods=[_spy_mod, _secagg_when_asked])
