"""DEPLOYMENT ENGINE test (slow, ~1-3 min): a SuperLink and two SuperNodes started as real processes on free
ports of 127.0.0.1, `flwr run` of kit/flower_app to completion, the result checked, every process stopped.

Run it alone with:  .venv/bin/pytest tests/test_federated_deployment.py -q   (or -k deployment)
"""
import psutil

from kit import federated


def test_deployment_engine_runs_a_federation_and_stops_every_process():
    with federated.Deployment(n_nodes=2) as fed:
        started = [p.pid for p in fed.processes]
        children = [c.pid for pid in started for c in psutil.Process(pid).children(recursive=True)]
        result = fed.run({"num-server-rounds": 2, "n-train": 400, "alpha": 0.0}, timeout=400)
    assert result["status"] == "finished:completed"
    assert len(result["acc"]) == 3                      # round 0 (initial model) + 2 rounds
    assert result["acc"][-1] > result["acc"][0] + 0.1   # the federation learned something
    assert fed.alive() == 0
    leftovers = [pid for pid in started + children if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not leftovers, f"processes still running after stop(): {leftovers}"
    assert not fed.workdir.exists()                     # a clean exit removes its temporary folder
