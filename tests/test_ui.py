"""`akd ui` opens MLflow's runs table: the suite's experiments are tagged as model training."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from akd.cli import main
from akd.tracking import KIND, KIND_TAG


def test_ui_tags_older_experiments_then_starts_mlflow_on_localhost(tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    old = client.create_experiment("akd-fashion_mnist")  # a store made before the tag existed
    chosen = client.create_experiment("akd-glue", tags={KIND_TAG: "genai_development"})  # the user's choice
    other = client.create_experiment("someone-else")
    calls = []
    monkeypatch.setattr("os.execv", lambda path, argv: calls.append(argv))
    assert main(["ui", "--tracking-uri", uri, "--port", "5123"]) in (0, None)
    assert client.get_experiment(old).tags[KIND_TAG] == KIND == "custom_model_development"
    assert client.get_experiment(chosen).tags[KIND_TAG] == "genai_development"
    assert KIND_TAG not in client.get_experiment(other).tags
    (argv,) = calls
    # MLflow 3.17 opens the GenAI view unless the link asks for the model-training one
    out = capsys.readouterr().out
    assert f"akd-fashion_mnist: http://127.0.0.1:5123/#/experiments/{old}/runs?workflowType=machine_learning" in out
    assert "someone-else" not in out
    assert argv[1:] == ["ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", "5123", "--workers", "1"]
