import json

from strata import Model


def init():
    global model
    import pickle

    with open(Model.get_model_path("mymodel"), "rb") as source:
        model = pickle.load(source)


def run(raw_data):
    data = json.loads(raw_data)["data"]
    if data == "boom":
        raise ValueError("boom")
    return [sum(row) * model["w"] for row in data]
