"""In-process cost of score.py's run(), with no server: python run_cost.py LABEL

Imports score.py (next to this file; the model is found next to it too), calls init(), then times
run() on body_1.json and body_100.json: 50 warm-up calls, then 400 timed calls. Prints one markdown
row per body: wall and CPU time per call (median wall; CPU = process time / calls). This is the
floor of a score.py request's server CPU in any server: one interpreter cannot exceed 1/run() req/s.
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.pop("AZUREML_MODEL_DIR", None)
import score  # noqa: E402

score.init()
label = sys.argv[1] if len(sys.argv) > 1 else sys.executable
for rows in (1, 100):
    with open(os.path.join(HERE, f"body_{rows}.json")) as f:
        body = f.read()
    for _ in range(50):
        score.run(body)
    walls = []
    cpu0 = time.process_time()
    for _ in range(400):
        t = time.perf_counter()
        score.run(body)
        walls.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / 400
    print(f"| {label} | {rows} | {statistics.median(walls) * 1e3:.2f} | {cpu * 1e3:.2f} |")
