"""DEPLOYMENT ENGINE test (slow, ~2-4 min): a SuperLink with TLS and SuperNode authentication and two registered
SuperNodes started as real processes on free ports of 127.0.0.1; `flwr run` of kit/flower_app to completion; two
strangers (a node whose key was never registered, a node that does not trust the run's CA) refused; every
process stopped and the temporary folder (certificates and keys included) removed.

Run it alone with:  .venv/bin/pytest tests/test_federated_deployment.py -q   (or -k deployment)
"""
import time

import psutil

from kit import federated
from kit.deploy import make_certificates, make_node_key


def _wait_exit(proc, seconds):
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    return proc.poll()


def test_secure_deployment_lets_registered_nodes_train_and_refuses_strangers():
    with federated.Deployment(n_nodes=2) as fed:
        assert fed.secure and fed.certs["ca"].exists()
        started = [p.pid for p in fed.processes]
        children = [c.pid for pid in started for c in psutil.Process(pid).children(recursive=True)]
        stranger_key, _ = make_node_key(fed.workdir / "keys" / "stranger")        # never registered
        stranger = fed.start_node(0, key=stranger_key, name="stranger", give_up_after=20)
        no_ca = fed.start_node(1, key=None, root_certificates=None, name="no-ca", give_up_after=20)
        result = fed.run({"num-server-rounds": 2, "n-train": 400, "alpha": 0.0}, timeout=400)
        assert _wait_exit(stranger, 120) not in (None, 0), "a SuperNode with an unregistered key was not refused"
        assert _wait_exit(no_ca, 120) not in (None, 0), "a SuperNode that does not trust the CA connected"
        stranger_log = (fed.workdir / "stranger.log").read_text(encoding="utf-8")
        no_ca_log = (fed.workdir / "no-ca.log").read_text(encoding="utf-8")
        online = [n for n in fed.nodes() if n.get("status") == "online"]
    assert result["status"] == "finished:completed"
    assert len(result["acc"]) == 3                      # round 0 (initial model) + 2 rounds
    assert result["acc"][-1] > result["acc"][0] + 0.1   # the registered nodes trained
    assert len(online) == 2, online                      # only the two registered nodes ever joined
    assert "Failed to activate SuperNode" in stranger_log, stranger_log[-800:]
    assert "CERTIFICATE_VERIFY_FAILED" in no_ca_log, no_ca_log[-800:]
    assert fed.alive() == 0
    leftovers = [pid for pid in started + children if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not leftovers, f"processes still running after stop(): {leftovers}"
    assert not fed.workdir.exists()                     # a clean exit removes keys, certificates and logs


def test_certificates_and_node_keys_are_what_flower_loads(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

    paths = make_certificates(tmp_path / "certs")
    ca = x509.load_pem_x509_certificate(paths["ca"].read_bytes())
    server = x509.load_pem_x509_certificate(paths["cert"].read_bytes())
    server.verify_directly_issued_by(ca)                 # signed by the run's CA
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    assert paths["key"].stat().st_mode & 0o077 == 0      # the private key is readable by its owner only
    private, public = make_node_key(tmp_path / "keys" / "node")
    assert isinstance(load_ssh_private_key(private.read_bytes(), None), ec.EllipticCurvePrivateKey)
    assert isinstance(load_ssh_public_key(public.read_bytes()), ec.EllipticCurvePublicKey)
    assert not list(tmp_path.rglob("*.tmp"))
