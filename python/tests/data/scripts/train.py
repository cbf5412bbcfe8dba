# train-on-local's script: Run.get_context() and run.log only.
import os
import pickle

from strata import Run

run = Run.get_context()
alphas = [0.0, 0.4, 0.8]
for alpha in alphas:
    mse = (alpha - 0.4) ** 2
    run.log("alpha", alpha)
    run.log("mse", mse)
    os.makedirs("outputs", exist_ok=True)
    with open(f"outputs/ridge_{alpha:.2f}.pkl", "wb") as out:
        pickle.dump(alpha, out)
