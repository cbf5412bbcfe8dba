"""The same classes on a server workspace: `strata server` on the PostgreSQL the test command
starts (`STRATA_TEST_PG_URI`), reached by URL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from strata import Environment, Experiment, InferenceConfig, Model, ScriptRunConfig, Webservice, Workspace
from strata.exceptions import UserErrorException
from strata.webservice import LocalWebservice

from helpers import free_port


def _strata(*args: str, **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run([os.environ["STRATA_BIN"], *args], check=True, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A server with workspace `team`: (URL, a contributor's token, a reader's token)."""
    uri = os.environ.get("STRATA_TEST_PG_URI")
    if not uri:
        if os.environ.get("CI") == "true":
            pytest.fail("STRATA_TEST_PG_URI is not set: scripts/test starts PostgreSQL for these tests")
        pytest.skip("STRATA_TEST_PG_URI is not set (scripts/test sets it)")
    database = f"strata_py_{os.getpid()}"
    subprocess.run(["psql", uri, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"DROP DATABASE IF EXISTS {database}", "-c", f"CREATE DATABASE {database}"], check=True, capture_output=True)
    url = uri.rsplit("/", 1)[0] + "/" + database
    _strata("server", "migrate", "--database", url)
    _strata("server", "workspace", "create", "team", "--database", url)
    tokens = [json.loads(_strata("--workspace", "team", "server", "token", "create", "--database", url, "--user", user, "--role", role, "--json").stdout)["token"] for user, role in [("ada", "contributor"), ("bo", "reader")]]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    blobs = tmp_path_factory.mktemp("blobs")
    process = subprocess.Popen([os.environ["STRATA_BIN"], "server", "run", "--database", url, "--blobs", f"file://{blobs}", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/w/team", tokens[0], tokens[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    def use(token: str) -> None:
        monkeypatch.setenv("STRATA_TOKEN", token)

    return use


def _signed_in(url: str, token: str) -> urllib.request.OpenerDirector:
    """A browser's session on the workspace's web pages, signed in with `token` (the form and
    its cookie, then the session cookie)."""
    import http.cookiejar
    import re
    import urllib.parse

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{url}/login").read().decode()
    match = re.search(r'name="csrf" value="([^"]+)"', form)
    assert match, form
    opener.open(f"{url}/login", data=urllib.parse.urlencode({"csrf": match.group(1), "token": token}).encode())
    return opener


def test_environments_on_a_server(server, as_user) -> None:  # type: ignore[no-untyped-def]
    url, contributor, reader = server
    as_user(contributor)
    ws = Workspace(path=url)
    env = Environment("pyenv")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    first = env.register(ws)
    assert (first.name, first.version) == ("pyenv", "1")
    assert env.register(ws).version == "1", "the same content is the same version"
    env.python.conda_dependencies.add_pip_package("packaging")
    assert env.register(ws).version == "2"

    as_user(reader)
    listed = Environment.list(ws)
    assert listed["pyenv"].version == "2" and "Strata-Minimal" in listed
    assert list(Environment.get(ws, "pyenv", "1").python.conda_dependencies.pip_packages) == ["six==1.16.0"]
    with pytest.raises(UserErrorException, match="[Nn]ot allowed"):
        Environment("other").register(ws)


def test_a_run_submitted_to_a_server_workspace(server, as_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url, contributor, reader = server
    as_user(contributor)
    ws = Workspace(path=url)
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("from strata import Run\nrun = Run.get_context()\nrun.log('acc', 0.9)\nprint('trained')\n")
    env = Environment("pyrun")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    run = Experiment(ws, "py").submit(ScriptRunConfig(source_directory=str(source), script="train.py", environment=env))
    details = run.wait_for_completion()
    assert details["status"] == "Completed"

    # A teammate reads it from the server.
    as_user(reader)
    [seen] = Experiment(Workspace(path=url), "py").get_runs()
    assert seen.id == run.id
    assert seen.get_metrics() == {"acc": 0.9}

    # Its links open in a browser signed in to the workspace, on any machine; no token in them.
    log = seen.get_details()["logFiles"]["logs/std_log.txt"]
    assert log == f"{url}/run/file?id={run.id}&tree=logs&path=std_log.txt"
    browser = _signed_in(url, reader)
    assert "trained" in browser.open(log).read().decode()
    assert seen.get_portal_url() == f"{url}/run?id={run.id}"
    assert run.id in browser.open(seen.get_portal_url()).read().decode()
    assert reader not in log + seen.get_portal_url()


def test_an_interactive_run_on_a_server_workspace(server, as_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url, contributor, reader = server
    as_user(contributor)
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    with Experiment(Workspace(path=url), "notebook").start_logging() as run:
        run.log("alpha", 0.03)
        run.log("alpha", 0.05)
        run.log_list("curve", [1, 2])
        run.tag("team", "ml")
        run.upload_file("outputs/model.pkl", str(model))
        (tmp_path / "outputs").mkdir()
        (tmp_path / "outputs" / "notes.txt").write_text("trained in a notebook")
        assert run.get_status() == "Running"
        assert run.get_file_names() == ["outputs/model.pkl"], "an upload is on the server at once"
    assert run.get_status() == "Completed"
    with pytest.raises(UserErrorException, match="has ended"):
        run.log("alpha", 0.07)
        run._flush()

    # A teammate reads it from the server.
    as_user(reader)
    [seen] = Experiment(Workspace(path=url), "notebook").get_runs()
    assert seen.id == run.id
    assert seen.get_metrics() == {"alpha": [0.03, 0.05], "curve": [1, 2]}
    assert seen.get_tags() == {"team": "ml"}
    assert seen.get_file_names() == ["outputs/model.pkl", "outputs/notes.txt"]
    seen.download_file("outputs/model.pkl", str(tmp_path / "got.pkl"))
    assert (tmp_path / "got.pkl").read_bytes() == b"weights"


SCORE = """import json
import pickle

from strata import Model


def init():
    global model
    with open(Model.get_model_path("pymodel"), "rb") as f:
        model = pickle.load(f)


def run(raw_data):
    return [sum(row) * model["w"] for row in json.loads(raw_data)["data"]]
"""


def test_a_model_served_from_a_server_workspace(server, as_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import pickle

    url, contributor, reader = server
    as_user(contributor)
    monkeypatch.chdir(tmp_path)
    ws = Workspace(path=url)
    (tmp_path / "w.pkl").write_bytes(pickle.dumps({"w": 2.0}))
    (tmp_path / "score.py").write_text(SCORE)
    model = Model.register(ws, model_path="w.pkl", model_name="pymodel")
    env = Environment("pyserve")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    registered = env.register(ws)
    details = registered.get_image_details(ws)
    assert details.python_environment["condaEnvironmentPath"] is None, "not built on this machine yet"

    # Served on this machine from the server's records, and recorded there for the team.
    port = free_port()
    service = Model.deploy(ws, "py-svc", [model], InferenceConfig(entry_script="score.py", environment=registered), LocalWebservice.deploy_configuration(port=port))
    service.wait_for_deployment()
    assert service.run(json.dumps({"data": [[1, 2]]})) == [6.0]
    assert "finished init()" in service.get_logs()
    service.reload(wait=True)
    assert service.run(json.dumps({"data": [[3, 4]]})) == [14.0]
    built = registered.get_image_details(ws)
    assert built.python_environment["condaEnvironmentPath"], "built here for the service"

    as_user(reader)
    seen = Webservice(Workspace(path=url), "py-svc")
    assert seen.state == "running"
    assert seen.scoring_uri == f"http://127.0.0.1:{port}/score"

    as_user(contributor)
    service.delete()
    as_user(reader)
    assert Webservice(Workspace(path=url), "py-svc").state == "deleted"
