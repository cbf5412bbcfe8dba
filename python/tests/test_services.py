"""Model.deploy, LocalWebservice and the emulated AciWebservice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strata import Environment, InferenceConfig, Model, Webservice
from strata.exceptions import CloudOnlyError, WebserviceException
from strata.webservice import AciWebservice, AksWebservice, LocalWebservice

from helpers import free_port


@pytest.fixture(scope="module")
def model(ws, project: Path):  # type: ignore[no-untyped-def]
    import pickle

    (project / "w.pkl").write_bytes(pickle.dumps({"w": 3.0}))
    return Model.register(ws, model_path="w.pkl", model_name="mymodel", tags={"area": "test"}, description="three")


@pytest.fixture(scope="module")
def env():  # type: ignore[no-untyped-def]
    env = Environment("serveenv")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    return env


def test_model_register_and_lookup(ws, model) -> None:  # type: ignore[no-untyped-def]
    assert (model.name, model.version, model.id, model.description) == ("mymodel", 1, "mymodel:1", "three")
    assert model.tags == {"area": "test"}
    assert model.run_id is None
    assert ws.models["mymodel"].version == 1


def test_deploy_score_reload_update_delete(project: Path, ws, model, env) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    config = InferenceConfig(entry_script="score.py", environment=env)
    service = Model.deploy(ws, "local-svc", [model], config, LocalWebservice.deploy_configuration(port=port))
    service.wait_for_deployment(show_output=True)
    assert isinstance(service, LocalWebservice)
    assert service.state == "running" and service.port == port
    assert service.scoring_uri == f"http://127.0.0.1:{port}/score"
    assert service.swagger_uri == f"http://127.0.0.1:{port}/swagger.json"
    assert service.run(input_data=json.dumps({"data": [[1, 2]]})) == [9.0]
    with pytest.raises(WebserviceException, match="Scoring was unsuccessful") as raised:
        service.run(json.dumps({"data": "boom"}))
    assert raised.value.status_code == 500
    assert "init" in service.get_logs() or service.get_logs()
    assert service.environment.name == "serveenv"

    # reload(wait=True) picks up the edited script, without a rebuild.
    original = (project / "score.py").read_text()
    (project / "score.py").write_text(original.replace('sum(row) * model["w"]', 'sum(row) * model["w"] * 10'))
    try:
        service.reload(wait=True)
        assert service.run(json.dumps({"data": [[1, 2]]})) == [90.0]
    finally:
        (project / "score.py").write_text(original)

    # update(models=...) serves the new model version.
    import pickle

    (project / "w.pkl").write_bytes(pickle.dumps({"w": 5.0}))
    newer = Model.register(ws, model_path="w.pkl", model_name="mymodel")
    assert newer.version == 2
    service.update(models=[newer])
    assert service.run(json.dumps({"data": [[1, 2]]})) == [15.0], "the new model, with the script as it is now"
    assert [m.version for m in service.models] == [2]

    assert Webservice(ws, "local-svc").state == "running"
    assert "local-svc" in ws.webservices
    with pytest.raises(WebserviceException, match="exists already"):
        Model.deploy(ws, "local-svc", [newer], InferenceConfig(entry_script="score.py", environment=env), LocalWebservice.deploy_configuration(port=free_port()))
    service.delete()
    assert service.state == "deleted"
    with pytest.raises(WebserviceException, match="Cannot call run\\(\\) when service is deleted."):
        service.run("{}")
    assert "local-svc" not in ws.webservices


def test_aci_is_a_local_service(ws, model, env, capsys) -> None:  # type: ignore[no-untyped-def]
    import strata.webservice

    strata.webservice._ACI_NOTE_SHOWN = False  # the note is shown once per process
    config = AciWebservice.deploy_configuration(cpu_cores=2, memory_gb=1, tags={"sample name": "AML 101"}, description="This is a great example.")
    service = Model.deploy(workspace=ws, name="my-aci-svc", models=[model], inference_config=InferenceConfig(entry_script="score.py", environment=env), deployment_config=config)
    try:
        service.wait_for_deployment(show_output=True)
        assert isinstance(service, AciWebservice) and service.compute_type == "ACI"
        assert "emulated by a local service" in capsys.readouterr().err
        assert service._record["config"]["workers"] == 2
        assert service._record["config"]["memoryGb"] == 1
        assert service.tags == {"sample name": "AML 101"}
        assert service.run(json.dumps({"data": [[1]]}))
    finally:
        service.delete()


def test_deployment_errors(ws, model, env, project: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WebserviceException, match="Invalid service name"):
        Model.deploy(ws, "Bad_Name", [model], InferenceConfig(entry_script="score.py", environment=env), LocalWebservice.deploy_configuration())
    with pytest.raises(WebserviceException, match="Invalid service name"):
        Model.deploy(ws, "ab", [model], InferenceConfig(entry_script="score.py", environment=env), LocalWebservice.deploy_configuration())
    with pytest.raises(WebserviceException, match="must be a .py file"):
        InferenceConfig(entry_script="score.txt")
    (project / "1score.py").write_text("")
    with pytest.raises(WebserviceException, match="Python identifier"):
        InferenceConfig(entry_script="1score.py")
    with pytest.raises(WebserviceException, match="does not exist"):
        InferenceConfig(entry_script="missing.py")
    with pytest.raises(WebserviceException, match="cannot be combined"):
        InferenceConfig(entry_script="score.py", environment=env, runtime="python")
    with pytest.raises(WebserviceException, match="greater than zero"):
        AciWebservice.deploy_configuration(cpu_cores=0)
    with pytest.raises(CloudOnlyError, match="auth_enabled"):
        AciWebservice.deploy_configuration(auth_enabled=True)
    with pytest.raises(CloudOnlyError, match="No-code deployment"):
        Model.deploy(ws, "nocode-svc", [model])
    with pytest.raises(CloudOnlyError, match="AksWebservice"):
        AksWebservice.deploy_configuration()
    with pytest.raises(CloudOnlyError, match="Model.profile"):
        Model.profile(ws, "p", [model], None, None)


def test_a_failing_init_raises_with_its_traceback(ws, model, env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WebserviceException, match="init failed on purpose"):
        Model.deploy(ws, "bad-init-svc", [model], InferenceConfig(entry_script="bad_init.py", environment=env), LocalWebservice.deploy_configuration(port=free_port()))
