"""Cloud-only calls raise one exception type that names the Azure feature and the local way."""

from __future__ import annotations

import pytest

import strata
import strata.compute
from strata.exceptions import CloudOnlyError


@pytest.mark.parametrize(
    "call, feature",
    [
        (lambda ws: strata.ComputeTarget(ws, "cpu"), "Compute targets"),
        (lambda ws: strata.compute.AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2"), "AmlCompute"),
        (lambda ws: strata.compute.AksCompute.create(ws, "aks", None), "AksCompute"),
        (lambda ws: ws.get_default_datastore(), "get_default_datastore"),
        (lambda ws: strata.Datastore.register_azure_blob_container(ws), "Datastores"),
        (lambda ws: strata.Dataset.Tabular.from_delimited_files("x.csv"), "Datasets"),
        (lambda ws: strata.Workspace(subscription_id="s", resource_group="r", workspace_name="w"), "Workspace(subscription_id"),
        (lambda ws: strata.Model.package(ws, [], None), "Model.package"),
    ],
)
def test_cloud_only(ws, call, feature) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CloudOnlyError) as raised:
        call(ws)
    assert feature in str(raised.value)
    assert "Instead:" in str(raised.value)
    assert isinstance(raised.value, NotImplementedError)


def test_workspace_from_config(project, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sub = project / "deep" / "er"
    sub.mkdir(parents=True)
    assert strata.Workspace.from_config(str(sub)).path == str(project)
    ws = strata.Workspace.from_config()
    assert ws.name == project.name and ws.location == "local" and ws.subscription_id == "local"
    assert ws.get_details()["path"] == str(project)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATA_WORKSPACE", raising=False)
    with pytest.raises(strata.exceptions.UserErrorException, match="No Strata workspace"):
        strata.Workspace.from_config()
    monkeypatch.setenv("STRATA_WORKSPACE", str(project))
    assert strata.Workspace.from_config() == ws
    created = strata.Workspace.create(str(tmp_path / "fresh"))
    assert "Strata-Minimal" in created.environments
    with pytest.raises(strata.exceptions.UserErrorException, match="exists already"):
        strata.Workspace.create(str(tmp_path / "fresh"))


def test_the_same_names_under_core() -> None:
    import strata.core
    from strata.core import Environment, Experiment, Run, ScriptRunConfig, Workspace
    from strata.core.conda_dependencies import CondaDependencies
    from strata.core.environment import CondaDependencies as FromEnvironment
    from strata.core.model import InferenceConfig, Model
    from strata.core.runconfig import RunConfiguration
    from strata.core.webservice import AciWebservice, LocalWebservice, Webservice
    from strata.core.workspace import Workspace as W2
    from strata.train.estimator import Estimator

    assert Environment is strata.Environment and Run is strata.Run and Model is strata.Model
    assert W2 is Workspace and FromEnvironment is CondaDependencies
    assert strata.core.VERSION == strata.VERSION
    namespace: dict[str, object] = {}
    exec("from strata.core import *", namespace)  # noqa: S102 - what `from azureml.core import *` ports to
    assert namespace["Workspace"] is strata.Workspace and namespace["ScriptRunConfig"] is strata.ScriptRunConfig
    assert all(x is not None for x in (Experiment, ScriptRunConfig, InferenceConfig, RunConfiguration, AciWebservice, LocalWebservice, Webservice, Estimator))
