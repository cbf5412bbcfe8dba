def init():
    raise RuntimeError("init failed on purpose")


def run(raw_data):
    return raw_data
