"""A training script as the walkthrough runs it: arguments, metrics, a model in outputs/."""
import argparse
import os
import pickle

from strata import Run

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--fail", action="store_true")
args = parser.parse_args()

run = Run.get_context()
run.log("lr", args.lr)
for alpha in (0.1, 0.2, 0.3):
    run.log("alpha", alpha)
    run.log("mse", (alpha - 0.2) ** 2 + args.lr)
run.log_list("curve", [1, 2, 3])
run.tag("team", "ml")
if args.fail:
    raise SystemExit("training failed on purpose")
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "wb") as out:
    pickle.dump({"w": 2.0}, out)
print("trained with lr", args.lr)
