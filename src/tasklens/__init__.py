"""tasklens: measure, predict and steer how tasks interact in multi-task learning.

Subpackages map to four papers (full references in ``docs/references.md``): Anon. 2025,
"Inter-Task Learning Dynamics in Deep Linear Multi-Task Networks" (ICLR 2026 submission);
Wu et al. 2026, "CORE-MTL" (arXiv:2606.02221); Azorin et al. 2023, "It's a Match! A
Benchmark of Task Affinity Scores for Joint Learning" (arXiv:2301.02873); Maziarka et al.
2022, "On the Relationship Between Disentanglement and Multi-Task Learning" (ECML PKDD,
arXiv:2110.03498).


- :mod:`tasklens.data` — the :class:`~tasklens.data.TaskSet` and the built-in data sets;
- :mod:`tasklens.linear` — exact dynamics of deep linear multi-task networks (Anon. 2025);
- :mod:`tasklens.nn`, :mod:`tasklens.balance`, :mod:`tasklens.train` — models, loss
  weighting / gradient aggregation and the training loop (Wu et al. 2026);
- :mod:`tasklens.affinity`, :mod:`tasklens.grouping` — task-affinity scores (Azorin et al. 2023);
- :mod:`tasklens.represent` — RSM, CKA and disentanglement metrics (Maziarka et al. 2022);
- :mod:`tasklens.analysis` — the stages of ``tasklens analyze``;
- :mod:`tasklens.report` — figures and reports.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tasklens")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

__all__ = ["__version__"]
