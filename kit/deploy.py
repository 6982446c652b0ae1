"""Flower's deployment engine on one machine: a SuperLink and SuperNodes as real processes on free ports.

    with Deployment(n_nodes=2) as fed:                  # TLS + SuperNode authentication, on 127.0.0.1
        result = fed.run({"num-server-rounds": 3})      # `flwr run kit/flower_app`, waits for the end

By default the federation lets no stranger in: `make_certificates` creates a CA and a server certificate for
this run (with `cryptography`), the SuperLink serves TLS and runs with `--enable-supernode-auth`, and every
SuperNode gets an EC key pair whose public key is registered with `flwr supernode register` before it starts.
`secure=False` gives the old `--insecure` federation (a trusted lab network only).

The same commands, started by hand on several machines, make a real federation (docs/federated.md).
"""
import os
import re
import sys
import time
from pathlib import Path

__all__ = ["APP_DIR", "Deployment", "free_port", "make_certificates", "make_node_key"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float, process=None, log=None):
    """Block until something accepts connections on 127.0.0.1:port (a SuperLink that finished starting)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the SuperLink exited with code {process.returncode}; see {log}")
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s; see {log}")


APP_DIR = Path(__file__).resolve().parent / "flower_app"


def _write_private(path: Path, data: bytes):
    """Write a key readable by its owner only, atomically (no half-written key on disk)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def make_certificates(folder, host: str = "127.0.0.1", days: int = 1) -> dict:
    """A throw-away CA and a server certificate for `host` (and localhost), signed by it, as PEM files.

    Returns {"ca": ca.crt, "cert": server.pem, "key": server.key} paths. The SuperLink serves `cert`/`key`;
    SuperNodes and the `flwr` CLI trust `ca` (`--root-certificates`). Real deployments use their
    organisation's CA; these expire after `days`.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ml-trends-kit test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    names = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
              .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=days))
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.crt", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_private(paths["key"], server_key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return paths


def make_node_key(path) -> tuple:
    """A SuperNode's identity: an EC P-384 key pair in OpenSSH format (what `ssh-keygen -t ecdsa -b 384` makes).

    Returns (private key path, public key path = private + ".pub"); register the public one with
    `flwr supernode register KEY.pub FEDERATION` and start the node with `--auth-supernode-private-key`.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    public = path.with_name(path.name + ".pub")
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH) + b"\n")
    return path, public



def _end(proc, force: bool) -> None:
    """Stop a process started with its own session: its whole group where the OS has process groups (Linux, macOS),
    the process alone where it does not (native Windows has no `os.killpg`; the course runs there through WSL2)."""
    import signal

    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL if force else signal.SIGTERM)
        elif force:
            proc.kill()
        else:
            proc.terminate()
    except ProcessLookupError:
        pass


class Deployment:
    """A SuperLink and `n_nodes` SuperNodes on 127.0.0.1 as separate processes, on free ports.

        with federated.Deployment(n_nodes=2) as fed:
            result = fed.run({"num-server-rounds": 2})   # `flwr run` of kit/flower_app, waits for the end
        # every process started here is stopped on exit, even after an error

    On real machines you start the same commands by hand (docs/federated.md).
    """

    def __init__(self, n_nodes: int = 2, workdir=None, secure: bool = True):
        import tempfile

        if n_nodes < 1:
            raise ValueError(f"a federation needs at least one SuperNode, got n_nodes={n_nodes}")
        self.n_nodes = n_nodes
        self.secure = secure
        self.certs: dict = {}
        self._own_workdir = workdir is None          # a temporary folder: removed after a clean exit
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kit-flower-"))
        self.port = None
        self.processes: list = []
        bin_dir = str(Path(sys.executable).parent)
        self.env = dict(os.environ, NO_COLOR="1", PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
                        FLWR_HOME=str(self.workdir / "flwr_home"))

    def _spawn(self, name, args):
        import subprocess

        log = open(self.workdir / f"{name}.log", "w", encoding="utf-8")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir,
                                start_new_session=True)  # its own process group: stop() ends its children too
        self.processes.append(proc)
        return proc

    def start(self):
        """Start the SuperLink, point the `flwr` CLI at it, register the nodes' keys, then start the SuperNodes."""
        self.port = free_port()
        link = ["flower-superlink", "--host", "127.0.0.1", "--port", str(self.port),
                "--disable-runtime-dependency-installation", "--database", str(self.workdir / "state.db")]
        if self.secure:
            self.certs = make_certificates(self.workdir / "certificates")
            link += ["--ssl-ca-certfile", str(self.certs["ca"]), "--ssl-certfile", str(self.certs["cert"]),
                     "--ssl-keyfile", str(self.certs["key"]), "--enable-supernode-auth"]
        else:
            link.append("--insecure")
        self._spawn("superlink", link)
        _wait_for_port(self.port, timeout=120, process=self.processes[0], log=self.workdir / "superlink.log")
        home = Path(self.env["FLWR_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        transport = f'root-certificates = "{self.certs["ca"]}"' if self.secure else "insecure = true"
        (home / "config.toml").write_text(f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
                                          f'address = "127.0.0.1:{self.port}"\n{transport}\n', encoding="utf-8")
        for k in range(self.n_nodes):
            key = None
            if self.secure:
                key, public = make_node_key(self.workdir / "keys" / f"supernode{k}")
                self.register(public)
            self.start_node(k, key=key)
        return self

    def register(self, public_key) -> dict:
        """`flwr supernode register PUBLIC_KEY local`: allow the node holding the matching private key to join."""
        return self._flwr("supernode", "register", str(public_key), "local")

    def start_node(self, k: int, key=None, root_certificates="ca", name=None, give_up_after: float | None = None):
        """Start SuperNode `k` (partition k of n_nodes) and return its process.

        On a secure federation it trusts `root_certificates` ("ca" = this run's CA, None = the system's CAs only)
        and signs in with the private key `key`. The tests start strangers this way: an unregistered key, or
        no CA. `give_up_after` seconds: the node stops retrying a SuperLink that does not let it in.
        """
        args = ["flower-supernode", "--superlink", f"127.0.0.1:{self.port}", "--host", "127.0.0.1",
                "--port", str(free_port()), "--node-config", f"partition-id={k} num-partitions={self.n_nodes}"]
        if give_up_after is not None:
            args += ["--max-wait-time", str(give_up_after)]
        if not self.secure:
            args.append("--insecure")
        else:
            if root_certificates is not None:
                ca = self.certs["ca"] if root_certificates == "ca" else root_certificates
                args += ["--root-certificates", str(ca)]
            if key is not None:
                args += ["--auth-supernode-private-key", str(key)]
        return self._spawn(name or f"supernode{k}", args)

    def nodes(self) -> list:
        """The SuperNodes the SuperLink knows (`flwr supernode list`), with their status."""
        return self._flwr("supernode", "list", "local").get("nodes", [])

    def _flwr(self, *args, timeout=120):
        import json
        import subprocess

        out = subprocess.run(["flwr", *args, "--format", "json"], capture_output=True, text=True, env=self.env,
                             cwd=self.workdir, timeout=timeout)
        try:  # inside a Jupyter kernel, flwr's rich output colours even piped JSON: strip the ANSI codes
            return json.loads(re.sub(r"\x1b\[[0-9;]*m", "", out.stdout))
        except ValueError:
            raise RuntimeError(f"`flwr {' '.join(args)}` failed: {out.stdout[-500:]} {out.stderr[-500:]}") from None

    def run(self, run_config: dict | None = None, timeout: float = 300, app_dir=None) -> dict:
        """`flwr run` the lesson's app (or `app_dir`) on this federation, wait for the end, return its result file."""
        import json

        result_file = self.workdir / "result.json"
        config = {**(run_config or {}), "result-file": str(result_file)}
        overrides = " ".join(f"{k}='{v}'" if isinstance(v, str) else f"{k}={v}" for k, v in config.items())
        started = self._flwr("run", str(app_dir or APP_DIR), "local", "--run-config", overrides)
        run_id = started.get("run-id") or started.get("run_id")
        if not started.get("success", True) or run_id is None:
            raise RuntimeError(f"flwr run did not start: {started}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self._flwr("ls", "local", "--run-id", str(run_id)).get("runs", [])
            status = runs[0].get("status", "") if runs else ""
            if status.startswith("finished"):
                if status != "finished:completed":
                    raise RuntimeError(f"run {run_id} ended as {status}; logs in {self.workdir}. "
                                       f"The ServerApp's log ends with:\n{self.log(run_id)[-3000:]}")
                return {"run_id": run_id, "status": status, **json.loads(result_file.read_text(encoding="utf-8"))}
            time.sleep(2)
        raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f} s; logs in {self.workdir}")

    def log(self, run_id) -> str:
        """The ServerApp's log of a run (`flwr log RUN_ID local --show`)."""
        import subprocess

        out = subprocess.run(["flwr", "log", str(run_id), "local", "--show"], capture_output=True, text=True,
                             env=self.env, cwd=self.workdir, timeout=120)
        return out.stdout + out.stderr

    def stop(self):
        """SIGTERM every process group started here, then SIGKILL what is still alive after 15 s; the processes
        those started (a SuperNode's ClientApp, say) are waited for too, and killed if they outlive their parent."""
        import psutil

        descendants = []
        for proc in self.processes:
            try:
                descendants += psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                pass
        for proc in reversed(self.processes):
            if proc.poll() is None:
                _end(proc, force=False)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except Exception:
                _end(proc, force=True)
                proc.wait()
        _, alive = psutil.wait_procs(descendants, timeout=10)
        for child in alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.processes = []

    def alive(self) -> int:
        """How many of the processes started here are still running."""
        return sum(p.poll() is None for p in self.processes)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:            # __exit__ does not run when __enter__ fails: stop what did start
            self.stop()
            raise

    def __exit__(self, exc_type, *exc):
        """Stop everything; remove a temporary workdir only when all went well (its logs explain a failure)."""
        self.stop()
        if exc_type is None and self._own_workdir:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)
