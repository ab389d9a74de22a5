"""Training multi-task models: the :class:`Trainer`, callbacks, checkpoints, monitors, Δm.

>>> from tasklens.nn import hps_for
>>> from tasklens.train import Trainer
>>> result = Trainer(hps_for(train, seed=0), train, "pcgrad", val=val,  # doctest: +SKIP
...                  monitor_every=10, log_dir="runs/pcgrad").fit(20)
>>> result.averaged_metrics["val"]  # doctest: +SKIP

The loop asks :func:`tasklens.balance.engine.backward` for exactly what the method declares
(``requires``, ``levels``, ``output``, ``post_step_update``) and never special-cases a method.
Models may add auxiliary terms through ``auxiliary_losses(x, z, outputs)``.
"""

from .callbacks import Callback, EarlyStopping, metric_direction
from .checkpoint import CheckpointError, load_checkpoint, load_method_state, method_state
from .delta_m import delta_m, single_task_baselines
from .evaluation import evaluate
from .loggers import CSVLogger, JSONLLogger, MLflowLogger, TensorBoardLogger
from .monitors import head_gradients, monitor_row
from .result import TrainResult
from .step import NonFiniteGradientError
from .trainer import NonFiniteLossError, Trainer, epoch_seed

__all__ = [
    "CSVLogger",
    "Callback",
    "CheckpointError",
    "EarlyStopping",
    "JSONLLogger",
    "MLflowLogger",
    "NonFiniteGradientError",
    "NonFiniteLossError",
    "TensorBoardLogger",
    "TrainResult",
    "Trainer",
    "delta_m",
    "epoch_seed",
    "evaluate",
    "head_gradients",
    "load_checkpoint",
    "load_method_state",
    "method_state",
    "metric_direction",
    "monitor_row",
    "single_task_baselines",
]
