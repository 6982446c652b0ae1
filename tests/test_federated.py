"""Unit tests for kit/federated.py that need neither Ray nor a SuperLink (those run in the lesson and in
tests/test_federated_deployment.py)."""
import socket

import pytest

from kit import federated


def test_free_port_is_bindable():
    port = federated.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_client_data_splits_the_training_set():
    X0, y0 = federated.client_data(0, 4, alpha=0.0, n_train=200)
    X1, y1 = federated.client_data(1, 4, alpha=0.0, n_train=200)
    assert X0.shape[1:] == (28, 28) and len(y0) + len(y1) == 100
    Xs, ys = federated.client_data(0, 4, alpha=0.3, n_train=200)
    assert len(Xs) == len(ys) >= 1
    X, y = federated.test_data(100)
    assert len(y) == 100


def test_client_data_bad_inputs():
    with pytest.raises(ValueError, match="more clients"):
        federated.client_data(0, 500, n_train=100)


def test_server_app_rejects_zero_rounds():
    with pytest.raises(ValueError, match="num_rounds"):
        federated.server_app({}, 0, {})


def test_deployment_needs_a_node():
    with pytest.raises(ValueError, match="at least one SuperNode"):
        federated.Deployment(n_nodes=0)


def test_flower_app_is_a_flower_project():
    text = (federated.APP_DIR / "pyproject.toml").read_text()
    assert 'serverapp = "fedmnist:server"' in text and 'clientapp = "fedmnist:client"' in text


def test_secagg_view_reads_spy_files(tmp_path):
    import numpy as np

    view = federated.SecAggView(tmp_path / "spy")
    np.save(view.spy_dir / "plain-node0.npy", np.arange(3))
    (view.spy_dir / "plain-0-abc.bytes").write_text("100")
    (view.spy_dir / "secagg-0-abc.bytes").write_text("250")
    assert view.upload("plain", 0).tolist() == [0, 1, 2]
    assert view.upload_bytes("plain") == 100 and view.upload_bytes("secagg") == 250


def test_secagg_needs_three_clients(tmp_path):
    with pytest.raises(ValueError, match="at least 3 clients"):
        federated.secagg_apps(federated.SecAggView(tmp_path), num_rounds=1, n_clients=2)


def test_secagg_view_counts_distinct_updates(tmp_path):
    import numpy as np

    view = federated.SecAggView(tmp_path)
    same = [np.ones(3)]
    view.seen = {"plain": [[np.zeros(3)], [np.ones(3)]], "secagg": [same, same, same]}
    assert view.distinct_updates("plain") == 2 and view.distinct_updates("secagg") == 1


def test_client_level_epsilon_falls_with_more_noise():
    assert federated.client_level_epsilon(0.0, 10) == float("inf")
    loose, tight = federated.client_level_epsilon(0.5, 10), federated.client_level_epsilon(2.0, 10)
    assert tight < loose and 1 < tight < 20
    assert federated.client_level_epsilon(1.0, 10, sample_rate=0.1) < federated.client_level_epsilon(1.0, 10)


def test_dp_when_asked_runs_flowers_dp_mods_only_when_the_config_asks(monkeypatch):
    import numpy as np
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
    from flwr.common import Context
    from flwr.supercore.task_identity import TaskIdentity

    for field in ("_run_id", "_node_id", "_task_id"):   # a Message needs the run and node it belongs to
        monkeypatch.setattr(TaskIdentity, field, 1)

    zeros = {"w": Array(np.zeros(1000, dtype=np.float32))}
    def reply_with(values):
        def call_next(msg, context):
            return Message(RecordDict({"arrays": ArrayRecord({"w": Array(values)})}), reply_to=msg)
        return call_next

    def send(config):
        msg = Message(RecordDict({"arrays": ArrayRecord(zeros), "config": ConfigRecord(config)}),
                      dst_node_id=1, message_type="train")
        context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
        out = federated.dp_when_asked(msg, context, reply_with(np.ones(1000, dtype=np.float32)))
        return out.content["arrays"]["w"].numpy()

    plain = send({"lr": 0.1})
    assert np.all(plain == 1)                                                  # untouched
    clipped = send({"clipping_norm": 1.0})
    assert np.linalg.norm(clipped) == pytest.approx(1.0, rel=1e-4)             # fixedclipping_mod
    noisy = send({"local-dp-epsilon": 10.0, "local-dp-clip": 1.0})
    assert abs(np.linalg.norm(noisy) - 1.0) > 1.0                              # LocalDpMod: clip + noise


@pytest.mark.parametrize("has_killpg", [True, False])
def test_stop_ends_processes_with_or_without_process_groups(tmp_path, monkeypatch, has_killpg):
    """Native Windows has no os.killpg: stop() must still end what it started (the process itself there)."""
    import os
    import subprocess
    import sys

    if not has_killpg:
        monkeypatch.delattr(os, "killpg", raising=False)
    fed = federated.Deployment(n_nodes=1, workdir=tmp_path, secure=False)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    fed.processes.append(proc)
    fed.stop()
    assert proc.poll() is not None and fed.alive() == 0


def test_straggler_work_draws_late_clients_per_round():
    assert all(federated.straggler_work(k, r, 0.0) == 1.0 for k in range(10) for r in range(1, 6))
    late = [federated.straggler_work(k, r, 1.0) for k in range(10) for r in range(1, 6)]
    assert all(0.1 <= w < 0.5 for w in late)
    half = [federated.straggler_work(k, r, 0.5) < 1.0 for k in range(20) for r in range(1, 11)]
    assert 0.35 < sum(half) / len(half) < 0.65
    assert federated.straggler_work(3, 2, 0.5) == federated.straggler_work(3, 2, 0.5)   # the same in every experiment
    with pytest.raises(ValueError, match="between 0 and 1"):
        federated.straggler_work(0, 1, 1.5)


def test_a_straggler_is_dropped_or_sends_partial_work(monkeypatch):
    from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
    from flwr.common import Context
    from flwr.supercore.task_identity import TaskIdentity

    from kit import privacy

    for field in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, field, 1)
    start = privacy.make_model().state_dict()

    def train(config):
        msg = Message(RecordDict({"arrays": ArrayRecord(start), "config": ConfigRecord(config)}),
                      dst_node_id=1, message_type="train")
        context = Context(run_id=1, node_id=1, node_config={"partition-id": 0, "num-partitions": 4},
                          state=RecordDict(), run_config={})
        return federated.client_app(msg, context)

    common = {"n-train": 400, "server-round": 1, "epochs": 1, "lr": 0.1}
    dropped = train({**common, "stragglers": 1.0, "straggler-mode": "drop"})
    assert dropped.has_error() and "deadline" in dropped.error.reason
    partial = train({**common, "stragglers": 1.0, "straggler-mode": "partial"})
    full = train({**common, "stragglers": 0.0})
    assert not partial.has_error() and not full.has_error()
    assert partial.content["metrics"]["num-examples"] == full.content["metrics"]["num-examples"] == 100
    moved = [float((partial.content["arrays"].to_torch_state_dict()[k] - start[k]).abs().sum()) for k in start]
    moved_full = [float((full.content["arrays"].to_torch_state_dict()[k] - start[k]).abs().sum()) for k in start]
    assert 0 < sum(moved) < sum(moved_full)          # some work, less than a whole epoch's
