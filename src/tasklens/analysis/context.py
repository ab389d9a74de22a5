"""What every stage reads: the data, its split, the settings, earlier stages' results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.taskset import TaskSetSplit
from .data import LoadedData
from .executor import ExecutorSession
from .settings import AnalysisSettings


class StageSkipped(Exception):
    """Raised by a stage that cannot run on this data; the message says why."""


@dataclass
class StageContext:
    """Inputs of a stage.

    Attributes
    ----------
    data : LoadedData
    split : TaskSetSplit
        The one train/test split of the run (``settings.test_size``, ``settings.seed``).
    settings : AnalysisSettings
    work_dir : Path
        ``DIR/stages``: cache files and saved model weights.
    results : dict {stage name: result dict}
        Results of the finished stages this one depends on.
    progress : bool or None
        Progress bars (None: only on a terminal).
    resume : bool
        Reuse the finished jobs of a stage that did not finish (``DIR/stages/jobs``).
    session : ExecutorSession
        Where the independent trainings run (:mod:`tasklens.analysis.executor`).
    """

    data: LoadedData
    split: TaskSetSplit
    settings: AnalysisSettings
    work_dir: Path
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool | None = None
    resume: bool = False
    session: ExecutorSession = field(default_factory=ExecutorSession)

    @property
    def task_names(self) -> list[str]:
        return list(self.split.train.task_names)

    @property
    def model_dir(self) -> Path:
        return self.work_dir / "models"

    def need(self, stage: str) -> dict[str, Any]:
        """The result of an earlier stage, or :class:`StageSkipped` naming it."""
        res = self.results.get(stage)
        if res is None:
            raise StageSkipped(f"needs the {stage!r} stage, which did not finish")
        return res
