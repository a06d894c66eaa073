"""Baseline methods. Importing this package registers them (one line per method)."""

from baselines import kd, nokd, takd  # noqa: F401
