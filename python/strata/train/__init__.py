"""`strata.train`: azureml-train-core's names (`strata.train.estimator.Estimator`)."""
