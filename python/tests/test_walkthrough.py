"""The issue's seed walkthrough, top to bottom, with azureml-core's import renamed."""

from __future__ import annotations

import json

from helpers import free_port


def test_seed_walkthrough(project, capsys):  # type: ignore[no-untyped-def]
    from strata import Environment, Experiment, InferenceConfig, Model, ScriptRunConfig, Workspace
    from strata.conda_dependencies import CondaDependencies
    from strata.webservice import AciWebservice, LocalWebservice

    ws = Workspace.from_config()
    env = Environment.from_pip_requirements("trainenv", "requirements.txt")
    deps = CondaDependencies()
    deps.add_pip_package("six==1.16.0")
    env.python.conda_dependencies = deps
    registered = env.register(ws)
    assert registered.version == "1" and env.version is None, "register() returns a new object"
    assert env.register(ws).version == "1", "unchanged content keeps its version"
    build = registered.build(ws).wait_for_completion(show_output=True)
    assert build.status == "Succeeded", build.get_log()

    run = Experiment(ws, "demo").submit(ScriptRunConfig(source_directory="src", script="train.py", arguments=["--lr", 0.1], environment=env))
    details = run.wait_for_completion(show_output=True)
    assert details["status"] == "Completed"
    assert "trained with lr 0.1" in capsys.readouterr().out, "show_output streams the run's output"
    metrics = run.get_metrics()
    assert metrics["lr"] == 0.1, "one value: a scalar"
    assert metrics["alpha"] == [0.1, 0.2, 0.3], "several: a list in logging order"
    assert run.get_environment().version == "1", "submitting registered the same content as version 1"

    model = run.register_model(model_name="mymodel", model_path="outputs/model.pkl")
    assert (model.name, model.version, model.id) == ("mymodel", 1, "mymodel:1")
    service = Model.deploy(ws, "mysvc", [model], InferenceConfig(entry_script="score.py", environment=env), LocalWebservice.deploy_configuration(port=free_port()))
    service.wait_for_deployment()
    assert service.run(json.dumps({"data": [[1, 2]]})) == [6.0]
    service.delete()
    assert service.state == "deleted"
    _ = AciWebservice
