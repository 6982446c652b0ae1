"""The Flower app the deployment engine runs: the lesson's ClientApp and a FedAvg ServerApp.

Each SuperNode is started with `--node-config "partition-id=K num-partitions=N"` and trains on
shard K of mnist5k; the ServerApp scores the global model on the test set after every round and,
when the run config names a `result-file`, writes {"acc": [...], "rounds": R} there.
"""
import json
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from kit import federated, privacy

client = federated.client_app
server = ServerApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    rounds = int(cfg["num-server-rounds"])
    strategy = FedAvg(fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=1)
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(privacy.make_model().state_dict()),
                            num_rounds=rounds,
                            train_config=ConfigRecord({"alpha": float(cfg["alpha"]), "n-train": int(cfg["n-train"])}),
                            evaluate_fn=federated.central_eval(0))
    acc = [float(result.evaluate_metrics_serverapp[r]["accuracy"]) for r in sorted(result.evaluate_metrics_serverapp)]
    if cfg.get("result-file"):
        Path(str(cfg["result-file"])).write_text(json.dumps({"acc": acc, "rounds": rounds}), encoding="utf-8")
