"""The local cells of the six sample notebooks (reference/python-api/notebooks), ported by
renaming `azureml` to `strata`. Their ML parts (scikit-learn, numpy, inference-schema) are
replaced by a pickled dictionary and `six`, so the cells run in seconds; the calls into the
SDK are kept as the notebooks make them. Cloud-only cells must raise `CloudOnlyError`."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from helpers import free_port
from strata.exceptions import CloudOnlyError

SCORE_V1 = '''
import json, os, pickle

def init():
    global model
    model_path = os.path.join(os.getenv('AZUREML_MODEL_DIR'), 'sklearn_regression_model.pkl')
    model = pickle.load(open(model_path, 'rb'))

def run(data):
    rows = json.loads(data)["data"]
    return [sum(r) * model["w"] for r in rows]
'''


def test_using_environments(project: Path, ws, capsys) -> None:  # type: ignore[no-untyped-def]
    # In[1]
    import strata.core

    print(strata.core.VERSION)
    # In[2]
    from strata.core.workspace import Workspace

    ws = Workspace.from_config()
    ws.get_details()
    # In[3]
    from strata.core import Environment

    curated_env = Environment.get(workspace=ws, name="Strata-Minimal")
    # In[4]
    envs = Environment.list(workspace=ws)
    for env in envs:
        if env.startswith("Strata"):
            print("Name", env)
            if envs[env].python.conda_dependencies is not None:
                print("packages", envs[env].python.conda_dependencies.serialize_to_string())
    assert "Name Strata-Minimal" in capsys.readouterr().out
    # In[5]
    from strata.core.environment import CondaDependencies

    myenv = Environment(name="myenv")
    conda_dep = CondaDependencies()
    conda_dep.add_pip_package("six==1.16.0")  # the notebook: scikit-learn==0.22.1 (conda)
    # In[6]
    conda_dep.add_pip_package("six==1.16.0")  # the notebook: pillow==6.2.1
    myenv.python.conda_dependencies = conda_dep
    # In[7]
    from strata.core import Experiment, ScriptRunConfig

    myexp = Experiment(workspace=ws, name="environment-example")
    # In[8]
    src = ScriptRunConfig(source_directory=".", script="example.py", compute_target="local", environment=myenv)
    run = myexp.submit(config=src)
    run.wait_for_completion(show_output=True)
    # In[9]
    assert run.get_environment().name == "myenv"
    # In[10]
    assert myenv.register(workspace=ws).version == run.get_environment().version
    # In[11]
    for name, env in ws.environments.items():
        print("Name {} \t version {}".format(name, env.version))
    restored_environment = Environment.get(workspace=ws, name="myenv", version="1")
    print("Attributes of restored environment")
    assert restored_environment.name == "myenv"
    # In[12]-[14]
    myenv.docker.enabled = True
    assert myenv.docker.base_image is None and myenv.docker.base_image_registry.address is None
    assert myenv.docker.shared_volumes is True and myenv.docker.shm_size is None
    _ = curated_env


def test_train_on_local(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    from strata.core import Environment, Experiment, ScriptRunConfig
    from strata.core.conda_dependencies import CondaDependencies

    exp = Experiment(workspace=ws, name="train-on-local")
    # In[6]: a user-managed environment runs with the interpreter it names.
    user_managed_env = Environment("user-managed-env")
    user_managed_env.python.user_managed_dependencies = True
    # In[7]-[10]
    src = ScriptRunConfig(source_directory="./scripts", script="train.py", environment=user_managed_env)
    run = exp.submit(src)
    run.wait_for_completion(show_output=True)
    # In[11]-[14]: a system-managed environment.
    system_managed_env = Environment("system-managed-env")
    system_managed_env.python.user_managed_dependencies = False
    cd = CondaDependencies.create(pip_packages=["six==1.16.0"])  # the notebook: conda_packages=['scikit-learn']
    system_managed_env.python.conda_dependencies = cd
    src.run_config.environment = system_managed_env
    run = exp.submit(src)
    run.wait_for_completion(show_output=True)
    assert run.get_environment().name == "system-managed-env"
    # In[19]-[20]
    metrics = run.get_metrics()
    best_alpha = metrics["alpha"][min(range(len(metrics["mse"])), key=metrics["mse"].__getitem__)]
    assert best_alpha == 0.4
    # In[22]-[24]
    assert "outputs/ridge_0.40.pkl" in run.get_file_names()
    model = run.register_model(model_name="best_ridge_model", model_path="./outputs/ridge_0.40.pkl")
    print("Registered model:\n --> Name: {}\n --> Version: {}\n --> URL: {}".format(model.name, model.version, model.url))
    assert (model.name, model.version) == ("best_ridge_model", 1)


def test_train_within_notebook(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    from strata.core import Experiment, Workspace

    ws = Workspace.from_config()
    print("Workspace name: " + ws.name, "Azure region: " + ws.location, "Subscription id: " + ws.subscription_id, "Resource group: " + ws.resource_group, sep="\n")
    # In[3]
    experiment = Experiment(workspace=ws, name="train-within-notebook")
    run = experiment.start_logging()
    run.log("alpha", 0.03)
    run.log("mse", 3000.5)
    model_file_name = "outputs/model.pkl"
    os.makedirs("outputs", exist_ok=True)
    pickle.dump({"w": 0.03}, open(model_file_name, "wb"))
    run.upload_file(name=model_file_name, path_or_stream=model_file_name)
    run.complete()
    # In[5]
    for alpha in (0.0, 0.5):
        with experiment.start_logging() as run:
            run.log(name="alpha", value=alpha)
            run.log(name="mse", value=(alpha - 0.4) ** 2 + 3000)
            pickle.dump({"w": alpha}, open("outputs/model.pkl", "wb"))
    # In[7]
    runs = {}
    run_metrics = {}
    for r in experiment.get_runs():
        metrics = r.get_metrics()
        if "mse" in metrics.keys():
            runs[r.id] = r
            run_metrics[r.id] = metrics
    best_run_id = min(run_metrics, key=lambda k: run_metrics[k]["mse"])
    best_run = runs[best_run_id]
    assert run_metrics[best_run_id]["alpha"] == 0.5
    best_run.tag("Best Run")
    # In[8]
    for f in best_run.get_file_names():
        print(f)
    model = best_run.register_model(model_name="best_model", model_path="outputs/model.pkl")
    # In[9]
    from strata.core.model import Model

    models = Model.list(ws, name="best_model")
    assert [m.version for m in models] == [model.version]
    # In[10]-[12]: ACI, emulated locally.
    from strata.core.conda_dependencies import CondaDependencies
    from strata.core.environment import Environment
    from strata.core.model import InferenceConfig
    from strata.core.webservice import AciWebservice

    (project / "score.py").write_text(SCORE_V1.replace("'sklearn_regression_model.pkl'", "'model.pkl'").replace('model["w"]', 'model["w"] + 0'))
    env = Environment("deploytocloudenv")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.16.0"])
    inference_config = InferenceConfig(entry_script="score.py", environment=env)
    aciconfig = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, tags={"sample name": "AML 101"}, description="This is a great example.")
    service = Model.deploy(workspace=ws, name="my-aci-svc", models=[model], inference_config=inference_config, deployment_config=aciconfig)
    try:
        service.wait_for_deployment(show_output=True)
        # In[13]-[15]
        service = ws.webservices["my-aci-svc"]
        test_samples = json.dumps({"data": [[1.0, 2.0]]})
        assert service.run(input_data=test_samples) == [1.5]
        import urllib.request

        request = urllib.request.Request(service.scoring_uri, test_samples.encode(), headers={"Content-Type": "application/json"})
        assert json.loads(urllib.request.urlopen(request).read()) == [1.5]
    finally:
        # In[17]
        service.delete()


def _register_diabetes_model(ws):  # type: ignore[no-untyped-def]
    from strata.core.model import Model

    pickle.dump({"w": 2.0}, open("sklearn_regression_model.pkl", "wb"))
    return Model.register(model_path="sklearn_regression_model.pkl", model_name="sklearn_regression_model", tags={"area": "diabetes", "type": "regression"}, description="Ridge regression model to predict diabetes", workspace=ws)


def test_register_model_deploy_local(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    from strata.core.environment import Environment
    from strata.core.model import InferenceConfig, Model
    from strata.core.webservice import LocalWebservice

    model = _register_diabetes_model(ws)
    # In[5]
    environment = Environment("LocalDeploy")
    environment.python.conda_dependencies.add_pip_package("six==1.16.0")
    # In[6]-[8]
    (project / "score.py").write_text(SCORE_V1)
    inference_config = InferenceConfig(entry_script="score.py", environment=environment)
    deployment_config = LocalWebservice.deploy_configuration(port=free_port())
    local_service = Model.deploy(ws, "test", [model], inference_config, deployment_config)
    try:
        local_service.wait_for_deployment()
        print("Local service port: {}".format(local_service.port))
        print(local_service.get_logs())
        # In[11]
        sample_input = json.dumps({"data": [[1, 2], [3, 4]]})
        assert local_service.run(sample_input) == [6.0, 14.0]
        # In[12]-[13]
        (project / "score.py").write_text(SCORE_V1.replace("return [", "return 'Hello from the updated score.py: ' + str([").replace("for r in rows]", "for r in rows])"))
        local_service.reload()
        # reload() returns before the new workers are in (as Azure's does before the
        # container is back): ask until the new script answers.
        import time

        deadline = time.time() + 120
        while True:
            answer = local_service.run(sample_input)
            if isinstance(answer, str) or time.time() > deadline:
                break
            time.sleep(0.05)
        assert answer == "Hello from the updated score.py: [6.0, 14.0]"
        # In[14]
        local_service.update(models=[model], inference_config=inference_config, deployment_config=deployment_config)
        assert local_service.run(sample_input) == "Hello from the updated score.py: [6.0, 14.0]"
        # In[15]-[17]: AKS is cloud-only.
        from strata.core.compute import AksCompute, ComputeTarget
        from strata.core.compute_target import ComputeTargetException

        with pytest.raises(CloudOnlyError, match="AKS|Compute"):
            try:
                ComputeTarget(workspace=ws, name="my-aks-9")
            except ComputeTargetException:
                AksCompute.provisioning_configuration()
        from strata.core.webservice import AksWebservice

        with pytest.raises(CloudOnlyError):
            AksWebservice.deploy_configuration()
        with pytest.raises(CloudOnlyError, match="deploy_to_cloud"):
            local_service.deploy_to_cloud(name="aks-service-1", deployment_config=None, deployment_target=None)
    finally:
        # In[20]
        local_service.delete()


def test_register_model_deploy_local_advanced(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    from strata.core.environment import Environment
    from strata.core.model import InferenceConfig, Model
    from strata.core.webservice import LocalWebservice

    model = _register_diabetes_model(ws)
    # In[5]
    source_directory = "source_directory"
    os.makedirs(os.path.join(source_directory, "x/y"), exist_ok=True)
    # In[6]-[7]
    score = SCORE_V1.replace("    model = pickle", "    global name\n    name = json.load(open('./source_directory/extradata.json'))['people'][0]['name']\n    model = pickle").replace("return [", "return 'Hello ' + name + ' here is your result = ' + str([").replace("for r in rows]", "for r in rows])")
    Path(source_directory, "x/y/score.py").write_text(score)
    Path(source_directory, "extradata.json").write_text(json.dumps({"people": [{"website": "microsoft.com", "from": "Seattle", "name": "Mrudula"}]}))
    # In[8]
    myenv = Environment("myenv-advanced")
    myenv.python.conda_dependencies.add_pip_package("six==1.16.0")
    myenv.inferencing_stack_version = "latest"
    inference_config = InferenceConfig(source_directory=source_directory, entry_script="x/y/score.py", environment=myenv)
    # In[9]-[12]
    local_service = Model.deploy(ws, "test-advanced", [model], inference_config, LocalWebservice.deploy_configuration(port=free_port()))
    try:
        local_service.wait_for_deployment()
        sample_input = json.dumps({"data": [[1, 2]]})
        assert local_service.run(sample_input) == "Hello Mrudula here is your result = [6.0]"
        # In[13]-[14]
        Path(source_directory, "x/y/score.py").write_text(score.replace("'Hello ' + name", "'Hello ' + name + ' from Seattle'"))
        local_service.reload(wait=True)
        assert local_service.run(sample_input) == "Hello Mrudula from Seattle here is your result = [6.0]"
    finally:
        # In[15]
        local_service.delete()


def test_model_register_and_deploy(project: Path, ws) -> None:  # type: ignore[no-untyped-def]
    from strata.core import Dataset, Environment, Model
    from strata.core.conda_dependencies import CondaDependencies
    from strata.core.model import InferenceConfig
    from strata.core.resource_configuration import ResourceConfiguration
    from strata.core.webservice import AciWebservice

    # In[4]: datastores and datasets are cloud-only.
    with pytest.raises(CloudOnlyError, match="get_default_datastore"):
        ws.get_default_datastore()
    with pytest.raises(CloudOnlyError, match="Datasets"):
        Dataset.Tabular.from_delimited_files(path=[])
    # In[5]: without the datasets.
    pickle.dump({"w": 2.0}, open("sklearn_regression_model.pkl", "wb"))
    model = Model.register(workspace=ws, model_name="my-sklearn-model", model_path="./sklearn_regression_model.pkl", model_framework=Model.Framework.SCIKITLEARN, model_framework_version="1.5.2", resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5), description="Ridge regression model to predict diabetes progression.", tags={"area": "diabetes", "type": "regression"})
    print("Name:", model.name)
    print("Version:", model.version)
    assert model.model_framework == "ScikitLearn"
    # In[6]: no-code deployment is cloud-only.
    with pytest.raises(CloudOnlyError, match="No-code"):
        Model.deploy(ws, "my-sklearn-service", [model], overwrite=True)
    # In[9]-[12]
    environment = Environment("my-sklearn-environment")
    environment.python.conda_dependencies = CondaDependencies.create(conda_packages=["pip"], pip_packages=["six==1.16.0"])
    (project / "score.py").write_text(SCORE_V1.replace("'sklearn_regression_model.pkl'", "'sklearn_regression_model.pkl'"))
    inference_config = InferenceConfig(entry_script="score.py", environment=environment)
    aci_config = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1)
    service = Model.deploy(workspace=ws, name="my-custom-env-service", models=[model], inference_config=inference_config, deployment_config=aci_config, overwrite=True)
    try:
        service.wait_for_deployment(show_output=True)
        assert service.run(json.dumps({"data": [[1, 2]]})) == [6.0]
    finally:
        # In[13]
        service.delete()
    # In[14]-: profiling and packaging are cloud-only.
    with pytest.raises(CloudOnlyError, match="Dataset"):
        Dataset.get_by_name(workspace=ws, name="diabetes_sample_request_data")
    with pytest.raises(CloudOnlyError, match="Model.profile"):
        Model.profile(ws, "profile", [model], inference_config, input_dataset=None)
    with pytest.raises(CloudOnlyError, match="Model.package"):
        Model.package(ws, [model], inference_config)
