//! The quickstart's project: a requirements file, a training script and a scoring script.

pub(super) const REQUIREMENTS: &str = "numpy\nscikit-learn\n";

pub(super) const SCORE: &str = r#"import json
import pickle

from strata import Model


def init():
    global model
    with open(Model.get_model_path("quickstart-model"), "rb") as f:
        model = pickle.load(f)


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"predictions": model.predict(rows).tolist()}
"#;

/// Three requests for the deployed model.
pub(super) const REQUESTS: [&str; 3] = [
    r#"{"data": [[0.5, -1.2, 0.3, 0.8, -0.4, 1.1, 0.0, -0.7]]}"#,
    r#"{"data": [[-2.0, 1.5, -0.3, 0.2, 1.4, -1.1, 0.6, 0.9]]}"#,
    r#"{"data": [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]]}"#,
];

pub(super) const TRAIN: &str = r#"import os
import pickle

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from strata import Run

run = Run.get_context()
X, y = make_classification(n_samples=500, n_features=8, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = LogisticRegression(max_iter=200).fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
run.log("accuracy", accuracy)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "wb") as out:
    pickle.dump(model, out)
print(f"accuracy: {accuracy:.3f}")
"#;

/// Writes the project into `dir`.
pub(super) fn write(dir: &std::path::Path) -> Result<(), super::StepError> {
    fs_err::create_dir_all(dir).map_err(super::StepError::Write)?;
    for (name, text) in [
        ("requirements.txt", REQUIREMENTS),
        ("train.py", TRAIN),
        ("score.py", SCORE),
    ] {
        fs_err::write(dir.join(name), text).map_err(super::StepError::Write)?;
    }
    Ok(())
}
