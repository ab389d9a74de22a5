"""tasklens: measure, predict and steer how tasks interact in multi-task learning.

Subpackages map to the papers in ``shared/seeds``:

- :mod:`tasklens.data` — the :class:`~tasklens.data.TaskSet` and the built-in data sets;
- :mod:`tasklens.linear` — exact dynamics of deep linear multi-task networks (Anon. 2025);
- :mod:`tasklens.nn`, :mod:`tasklens.balance`, :mod:`tasklens.train` — models, loss
  weighting / gradient aggregation and the training loop (Wu et al. 2026);
- :mod:`tasklens.affinity`, :mod:`tasklens.grouping` — task-affinity scores (Azorin et al. 2023);
- :mod:`tasklens.represent` — RSM, CKA and disentanglement metrics (Maziarka et al. 2022);
- :mod:`tasklens.report` — figures and reports.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tasklens")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

__all__ = ["__version__"]
