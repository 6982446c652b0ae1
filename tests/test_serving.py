"""Export a pipeline with skops, serve it on 127.0.0.1, check schema errors, latency, agreement, and stop."""
import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kit import serving


@pytest.fixture(scope="module")
def fitted():
    iris = load_iris()
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(iris.data, iris.target)
    return pipe, iris


def test_export_and_load_round_trip(fitted, tmp_path):
    pipe, iris = fitted
    path = serving.export(pipe, tmp_path / "iris.skops", iris.feature_names, iris.target_names)
    bundle = serving.load(path)
    assert bundle["feature_names"] == list(iris.feature_names) and bundle["classes"] == list(iris.target_names)
    assert (bundle["model"].predict(iris.data) == pipe.predict(iris.data)).all()
    assert not list(tmp_path.glob(".*.tmp")), "no half-written file is left behind"


def test_an_mlp_loads_only_when_its_optimiser_type_is_trusted(tmp_path):
    from sklearn.neural_network import MLPClassifier

    iris = load_iris()
    mlp = MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(iris.data, iris.target)
    path = serving.export(mlp, tmp_path / "mlp.skops", iris.feature_names, iris.target_names)
    with pytest.raises(ValueError, match="AdamOptimizer"):
        serving.load(path)
    loaded = serving.load(path, trusted=serving.SKLEARN_INTERNALS)["model"]
    assert (loaded.predict(iris.data) == mlp.predict(iris.data)).all()


def test_load_refuses_untrusted_types_and_missing_files(tmp_path):
    import skops.io as sio

    class Custom:  # a type skops does not trust by default
        pass

    sio.dump({"model": Custom(), "feature_names": [], "classes": []}, tmp_path / "odd.skops")
    with pytest.raises(ValueError, match="not trusted"):
        serving.load(tmp_path / "odd.skops")
    with pytest.raises(FileNotFoundError, match="export a model first"):
        serving.load(tmp_path / "missing.skops")


def test_service_answers_checks_schema_and_stops(fitted, tmp_path):
    pipe, iris = fitted
    bundle = serving.load(serving.export(pipe, tmp_path / "iris.skops", iris.feature_names, iris.target_names))
    with serving.Service(serving.make_app(bundle)) as service:
        assert service.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{service.url}/health").json()["features"] == 4
        served = serving.predict(service.url, iris.data[:50])
        assert served == [iris.target_names[i] for i in pipe.predict(iris.data[:50])]
        short = httpx.post(f"{service.url}/predict", json={"rows": [[1.0, 2.0]]})
        assert short.status_code == 422 and "row 0 has 2 values; the model needs 4" in short.json()["error"]
        words = httpx.post(f"{service.url}/predict", json={"rows": [["a", "b", "c", "d"]]})
        assert words.status_code == 422 and "rows.0.0" in words.json()["error"]
        empty = httpx.post(f"{service.url}/predict", json={"rows": []})
        assert empty.status_code == 422 and "at least 1" in empty.json()["error"]
        assert httpx.post(f"{service.url}/predict", content=b"not json").status_code == 422
        timing = serving.latency_ms(service.url, iris.data, n=30)
        assert 0 < timing["p50"] <= timing["p95"]
        port = service.port
    assert serving.port_is_free(port), "the server still listens after stop()"


def test_service_refuses_a_public_address():
    with pytest.raises(ValueError, match="loopback"):
        serving.Service(object(), host="0.0.0.0")


def test_export_rejects_a_non_estimator(tmp_path):
    with pytest.raises(TypeError, match="fitted scikit-learn estimator"):
        serving.export(np.zeros(3), tmp_path / "x.skops", [], [])
