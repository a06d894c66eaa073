"""Baseline methods. Importing this package registers them (one line per method)."""

from baselines import ctkd, dist, dkd, kd, mse_logit, nokd, takd  # noqa: F401
