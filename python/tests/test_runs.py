"""Experiments, submitted and interactive runs, metrics, files, models from runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strata import Environment, Experiment, Model, Run, RunConfiguration, ScriptRunConfig
from strata.exceptions import ActivityFailedException, CloudOnlyError, UserErrorException
from strata.train.estimator import Estimator


@pytest.fixture(scope="module")
def env(ws):  # type: ignore[no-untyped-def]
    env = Environment("runenv")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    return env


@pytest.fixture(scope="module")
def finished(ws, env):  # type: ignore[no-untyped-def]
    run = Experiment(ws, "runs").submit(ScriptRunConfig(source_directory="src", script="train.py", arguments=["--lr", 0.5], environment=env))
    run.wait_for_completion()
    return run


def test_submit_returns_at_once_and_waits(ws, env, finished) -> None:  # type: ignore[no-untyped-def]
    assert finished.id.startswith("runs_") and len(finished.id.split("_")[-1]) == 8
    assert finished.get_status() == "Completed"
    details = finished.get_details()
    assert details["runId"] == finished.id and details["status"] == "Completed"
    assert "logs/std_log.txt" in details["logFiles"]
    assert finished.get_environment().name == "runenv"
    assert finished.get_environment().version == env.register(ws).version, "submit registered the same content"


def test_metrics_are_scalars_or_lists(finished) -> None:  # type: ignore[no-untyped-def]
    metrics = finished.get_metrics()
    assert metrics["lr"] == 0.5
    assert metrics["alpha"] == [0.1, 0.2, 0.3]
    assert metrics["curve"] == [1, 2, 3]
    assert finished.get_metrics(name="lr") == {"lr": 0.5}
    assert finished.get_tags() == {"team": "ml"}
    finished.tag("Best Run")
    assert finished.get_tags() == {"Best Run": None, "team": "ml"}, "a finished run takes tags"
    with pytest.raises(UserErrorException, match="only its script logs metrics"):
        finished.log("late", 1)


def test_files_and_downloads(project: Path, finished) -> None:  # type: ignore[no-untyped-def]
    assert finished.get_file_names() == ["logs/std_log.txt", "outputs/model.pkl"]
    finished.download_file("outputs/model.pkl", str(project / "dl" / "model.pkl"))
    assert (project / "dl" / "model.pkl").stat().st_size > 0
    written = finished.download_files(prefix="outputs/", output_directory=str(project / "all"))
    assert written == [str(project / "all" / "outputs" / "model.pkl")]
    with pytest.raises(UserErrorException, match="has no file"):
        finished.download_file("outputs/nope.pkl")


def test_register_model_versions_are_ints(ws, finished) -> None:  # type: ignore[no-untyped-def]
    first = finished.register_model(model_name="runmodel", model_path="outputs/model.pkl", tags={"k": "v"})
    second = finished.register_model(model_name="runmodel", model_path="outputs/model.pkl")
    assert (first.version, second.version) == (1, 2)
    assert first.tags == {"k": "v"} and first.run_id == finished.id
    assert sorted(m.version for m in Model.list(ws, name="runmodel")) == [1, 2]
    assert [m.version for m in Model.list(ws, name="runmodel", latest=True)] == [2]
    assert Model(ws, "runmodel").version == 2
    assert Model(ws, id="runmodel:1").version == 1
    with pytest.raises(UserErrorException):
        finished.register_model(model_name="runmodel", model_path="outputs/nope.pkl")
    with pytest.raises(UserErrorException, match="Invalid model name"):
        Model.register(ws, "requirements.txt", "bad name!")


def test_a_failed_run_raises_unless_told(ws, env) -> None:  # type: ignore[no-untyped-def]
    run = Experiment(ws, "runs").submit(ScriptRunConfig(source_directory="src", script="train.py", arguments=["--fail"], environment=env))
    with pytest.raises(ActivityFailedException, match="Failed") as raised:
        run.wait_for_completion()
    assert raised.value.status == "Failed"
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed" and details["exitCode"] == 1
    assert run.get_metrics()["lr"] == 0.01, "metrics logged before the failure are kept"


def test_get_runs_is_newest_first_and_run_get(ws, finished) -> None:  # type: ignore[no-untyped-def]
    runs = list(Experiment(ws, "runs").get_runs())
    assert runs[-1].id == finished.id and len(runs) >= 2
    assert Run.get(ws, finished.id).get_status() == "Completed"
    assert "runs" in [e.name for e in Experiment.list(ws)]
    with pytest.raises(UserErrorException):
        Run.get(ws, "runs_0_deadbeef")


def test_interactive_runs(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    experiment = Experiment(workspace=ws, name="train-within-notebook")
    run = experiment.start_logging()
    assert run.get_status() == "Running"
    run.log("alpha", 0.03)
    run.log("mse", 3.2)
    (project / "outputs").mkdir(exist_ok=True)
    (project / "outputs" / "model.pkl").write_bytes(b"model")
    run.upload_file(name="outputs/model.pkl", path_or_stream="outputs/model.pkl")
    (project / "notes.txt").write_text("alpha tuned by hand")
    run.upload_file(name="logs/notes.txt", path_or_stream="notes.txt")
    assert run.get_metrics() == {"alpha": 0.03, "mse": 3.2}, "metrics are sent before reading"
    run.complete()
    assert run.get_status() == "Completed"
    assert sorted(run.get_file_names()) == ["logs/notes.txt", "outputs/model.pkl"]
    log = run.get_details()["logFiles"]["logs/notes.txt"]
    assert Path(log).read_text() == "alpha tuned by hand", "an uploaded log is a file to open"
    assert run.register_model(model_name="best_model", model_path="outputs/model.pkl").version == 1

    for alpha in (0.1, 0.2):
        with experiment.start_logging() as run:
            run.log(name="alpha", value=alpha)
            run.log(name="mse", value=alpha * 2)
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"alpha": 0.2, "mse": 0.4}
    with pytest.raises(ZeroDivisionError):
        with experiment.start_logging() as failing:
            failing.log("x", 1)
            1 / 0
    assert failing.get_status() == "Failed"
    assert "ZeroDivisionError" in failing.get_details()["error"]["error"]["message"]
    with pytest.raises(UserErrorException, match="interactive"):
        failing.get_environment()


def test_run_configuration_and_compute_targets(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    config = RunConfiguration()
    assert config.target == "local" and config._uses_default_environment()
    config.environment.python.user_managed_dependencies = True
    assert not config._uses_default_environment()
    config.save(str(project), "mine")
    loaded = RunConfiguration.load(str(project), "mine")
    assert loaded.environment.python.user_managed_dependencies is True
    # A target name is checked against the workspace when the run is submitted.
    unknown = ScriptRunConfig(source_directory="src", script="train.py", compute_target="cpu-cluster")
    with pytest.raises(UserErrorException, match="Compute target `cpu-cluster`"):
        Experiment(ws, "targets").submit(unknown)
    with pytest.raises(CloudOnlyError, match="AmlCompute"):
        ScriptRunConfig(source_directory="src", script="train.py", compute_target=object())
    with pytest.raises(CloudOnlyError, match="Distributed"):
        ScriptRunConfig(source_directory="src", script="train.py", distributed_job_config=object())
    with pytest.raises(UserErrorException, match="Invalid experiment name"):
        Experiment(ws, "bad name")


def test_the_default_environment(ws) -> None:  # type: ignore[no-untyped-def]
    run = Experiment(ws, "defaults").submit(ScriptRunConfig(source_directory="src", script="train.py"))
    run.wait_for_completion()
    assert run.get_environment().name == "Strata-Minimal"


def test_estimator_shim(ws, caplog) -> None:  # type: ignore[no-untyped-def]
    estimator = Estimator(source_directory="src", entry_script="train.py", script_params={"--lr": 0.25}, pip_packages=["six==1.16.0"], use_docker=False)
    assert "'Estimator' is deprecated. Please use 'ScriptRunConfig'" in caplog.text
    run = Experiment(ws, "estimator").submit(estimator)
    run.wait_for_completion()
    assert run.get_metrics()["lr"] == 0.25
    assert run.get_environment().name == "estimator-env"
    with pytest.raises(CloudOnlyError):
        Estimator(source_directory="src", entry_script="train.py", vm_size="STANDARD_D2_V2")


def test_a_script_run_config_submits_to_an_attached_slurm_target(ws) -> None:  # type: ignore[no-untyped-def]
    slurm = os.environ.get("STRATA_TEST_SLURM")
    if not slurm:
        if os.environ.get("CI") == "true":
            pytest.fail("no Slurm test cluster (scripts/test starts one and sets STRATA_TEST_SLURM)")
        pytest.skip("no Slurm test cluster: set STRATA_TEST_SLURM (scripts/slurm-test-cluster start DIR)")
    os.environ["SLURM_CONF"] = os.path.join(slurm, "slurm.conf")
    node_cache = os.path.abspath("node-cache")
    ws._transport.text(["compute", "attach", "pyhpc", "--slurm", "--node-cache", node_cache])
    config = ScriptRunConfig(source_directory="src", script="train.py", compute_target="pyhpc", max_run_duration_seconds=300)
    assert "--time" in config._cli_arguments(ws)
    run = Experiment(ws, "slurm").submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed", run.get_details()
    assert run.get_details()["target"] == "pyhpc"
    assert run.get_metrics()
