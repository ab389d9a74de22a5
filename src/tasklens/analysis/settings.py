"""Settings of ``tasklens analyze``: one frozen dataclass, one preset per budget.

A budget fixes how much training the analysis spends: ``fast`` (a few epochs, two seeds, no
pairwise trainings: the grouping comes from gradient transference), ``standard`` (more
epochs, three seeds, every pair trained so that the grouping uses measured gains) and
``thorough`` (longer, five seeds, more balancing methods). Every field can be overridden
(``dataclasses.replace``); the whole dataclass is hashed into each stage's cache key.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .._common.validation import check_scalar

BUDGETS: tuple[str, ...] = ("fast", "standard", "thorough")

#: settings fields the train/test split reads
SPLIT_FIELDS: tuple[str, ...] = ("seed", "test_size", "max_rows")
#: settings fields one training reads (besides its tasks, seed and method)
TRAIN_FIELDS: tuple[str, ...] = (*SPLIT_FIELDS, "epochs", "max_steps", "batch_size", "lr",
                                 "hidden", "code_dim", "head_hidden", "head_depth",
                                 "image_model", "image_encoder")

#: ``image_model`` choices: a convolutional encoder on image data, or the MLP on pixels
IMAGE_MODELS: tuple[str, ...] = ("conv", "mlp")
#: the image encoders ``image_encoder`` may name (:data:`tasklens.nn.IMAGE_ENCODERS`) and
#: their names in the report
IMAGE_ENCODER_NAMES: dict[str, str] = {"lenet": "LeNet", "resnet": "SmallResNet",
                                       "beta_vae": "ConvEncoder"}

#: methods compared in stage 6 when ``--methods`` is not given
DEFAULT_METHODS: dict[str, tuple[str, ...]] = {
    "fast": ("ew", "uw", "famo", "pcgrad"),
    "standard": ("ew", "uw", "famo", "pcgrad", "upgrad"),
    "thorough": ("ew", "uw", "famo", "dwa", "pcgrad", "upgrad", "cagrad", "imtl_g"),
}


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that defines an analysis run (hashed into the stage caches).

    Attributes
    ----------
    budget : {"fast", "standard", "thorough"}
    seed : int
        Seed of the train/test split and of the first replicate; replicate ``r`` uses
        ``seed + r``.
    n_seeds : int
        Replicates of every training (standard errors need >= 2).
    epochs : int
        Epochs of every training (fewer when ``max_steps`` says so).
    max_steps : int or None
        Cap on the optimizer steps of one training (:meth:`steps_for`): large tables stop
        after ``max_steps`` steps, inside the first epoch if need be, so a budget's
        training time does not grow with the number of rows.
    batch_size : int
    lr : float
        Adam learning rate.
    hidden : tuple of int
        Widths of the shared MLP encoder (:func:`tasklens.nn.hps_for`).
    code_dim, head_hidden, head_depth : int
        Size of the shared representation ``z`` and of the task heads.
    test_size : float
        Held-out fraction on which every metric is measured.
    max_rows : int or None
        Use at most this many rows (a seeded random subset) of the data.
    pairs : bool
        Train every pair of tasks (stage 5 then selects networks on measured gains).
    methods : tuple of str
        Balancing methods compared in stage 6 (``"ew"`` is always included).
    max_networks : int or None
        Budget of the grouping (number of networks); default ``min(2, K)``.
    probe_size : int
        Samples of the probe batches (GS/GT on training data, CKA/RSA on test data).
    monitor_points : int
        Approximate number of gradient-cosine records over the multi-task training.
    core_mtl : bool or None
        Also compare CORE-MTL (Wu et al. 2026: :func:`tasklens.nn.dual_stream_for`, soft
        grounding, all λ = 1, task losses under EW) in stage 6. ``None`` (default): on
        when the data are images, off otherwise (:func:`core_mtl_enabled`).
    image_model : {"conv", "mlp"}
        Models on image data: ``"conv"`` (default) reads the images through the
        convolutional encoder ``image_encoder`` (fed the loader's flat vectors through
        :class:`tasklens.nn.FlatImageEncoder`) and CORE-MTL's decoder renders images;
        ``"mlp"`` trains the MLP encoder on flattened pixels (the behaviour before results
        schema 1.3). Ignored for tabular data (:func:`image_model_for`).
    image_encoder : {"lenet", "resnet", "beta_vae"}
        The conv encoder (:data:`tasklens.nn.IMAGE_ENCODERS`): ``"lenet"`` at the ``fast``
        budget, :class:`~tasklens.nn.SmallResNet` (``"resnet"``, the library's default
        image encoder) at ``standard`` and ``thorough``. Decision, measured on
        ``colored_digits`` (600 rows, 3×8×8, ``--budget fast``, serial, 2 loaded CPU
        cores): the stages took 5 s with the MLP, 13 s with LeNet and 28 s with
        SmallResNet (whole command 12 s, 19 s, 34 s), so the fast budget uses LeNet to
        stay within about 2× the MLP's time.
    """

    budget: str = "fast"
    seed: int = 0
    n_seeds: int = 2
    epochs: int = 8
    max_steps: int | None = 400
    batch_size: int = 64
    lr: float = 3e-3
    hidden: tuple[int, ...] = (64,)
    code_dim: int = 32
    head_hidden: int = 32
    head_depth: int = 1
    test_size: float = 0.2
    max_rows: int | None = None
    pairs: bool = False
    methods: tuple[str, ...] = DEFAULT_METHODS["fast"]
    max_networks: int | None = None
    probe_size: int = 256
    monitor_points: int = 40
    core_mtl: bool | None = None
    image_model: str = "conv"
    image_encoder: str = "lenet"

    def __post_init__(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}, got {self.budget!r}")
        check_scalar(self.seed, "--seed", numbers.Integral, low=0)
        check_scalar(self.n_seeds, "n_seeds", numbers.Integral, low=1, high=20)
        check_scalar(self.epochs, "--epochs", numbers.Integral, low=1, high=10_000)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, low=1)
        check_scalar(self.max_steps, "--max-steps", numbers.Integral, low=1, allow_none=True)
        check_scalar(self.lr, "lr", numbers.Real, low=0, include_low=False)
        check_scalar(self.test_size, "test_size", numbers.Real, low=0, high=1,
                     include_low=False, include_high=False)
        check_scalar(self.max_rows, "--max-rows", numbers.Integral, low=20, allow_none=True)
        check_scalar(self.max_networks, "--max-networks", numbers.Integral, low=1,
                     allow_none=True)
        check_scalar(self.probe_size, "probe_size", numbers.Integral, low=8)
        check_scalar(self.monitor_points, "monitor_points", numbers.Integral, low=1)
        if self.core_mtl is not None and not isinstance(self.core_mtl, bool):
            raise TypeError(f"core_mtl must be True, False or None (auto), got "
                            f"{type(self.core_mtl).__name__}")
        if self.image_model not in IMAGE_MODELS:
            raise ValueError(f"--image-model must be one of {', '.join(IMAGE_MODELS)}, got "
                             f"{self.image_model!r}")
        if self.image_encoder not in IMAGE_ENCODER_NAMES:
            raise ValueError(f"image_encoder must be one of {', '.join(IMAGE_ENCODER_NAMES)}, "
                             f"got {self.image_encoder!r}")
        if "core_mtl" in {str(m).strip().lower() for m in self.methods}:
            raise ValueError("--methods names balancing methods; CORE-MTL is a model, "
                             "switched by --core-mtl / core_mtl=True")
        methods = tuple(dict.fromkeys(str(m).strip().lower() for m in self.methods if m))
        if "ew" not in methods:
            methods = ("ew", *methods)  # the reference every other method is compared with
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @classmethod
    def for_budget(cls, budget: str = "fast", **overrides: Any) -> AnalysisSettings:
        """The preset of ``budget`` with ``overrides`` (``None`` values are ignored)."""
        if budget not in BUDGETS:
            raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
        presets: dict[str, dict[str, Any]] = {
            "fast": {},
            "standard": {"n_seeds": 3, "epochs": 10, "max_steps": 2000, "pairs": True,
                         "hidden": (128,),
                         "code_dim": 64, "probe_size": 512, "monitor_points": 80,
                         "image_encoder": "resnet"},
            "thorough": {"n_seeds": 5, "epochs": 30, "max_steps": None, "pairs": True,
                         "hidden": (256, 128),
                         "code_dim": 64, "head_hidden": 64, "probe_size": 1024,
                         "monitor_points": 150, "image_encoder": "resnet"},
        }
        values: dict[str, Any] = {"budget": budget, "methods": DEFAULT_METHODS[budget],
                                  **presets[budget]}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def steps_for(self, n_train: int) -> int:
        """Optimizer steps of one training on ``n_train`` rows:
        ``min(epochs × ceil(n_train / batch_size), max_steps)``, the cap passed to
        :meth:`tasklens.train.Trainer.fit` (which may stop inside an epoch)."""
        steps = self.epochs * math.ceil(n_train / self.batch_size)
        return steps if self.max_steps is None else min(steps, self.max_steps)

    def epochs_for(self, n_train: int) -> float:
        """Epochs (a fraction when the step cap stops inside one) of one training on
        ``n_train`` rows: :meth:`steps_for` over the steps of one epoch."""
        return self.steps_for(n_train) / math.ceil(n_train / self.batch_size)

    @property
    def seeds(self) -> tuple[int, ...]:
        """The replicate seeds ``seed, seed + 1, …``."""
        return tuple(self.seed + r for r in range(self.n_seeds))

    def replace(self, **changes: Any) -> AnalysisSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        out["methods"] = list(self.methods)
        return out


def check_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """Every name must be a balancing method the analysis can train (no held-out batch).

    Raises ValueError naming ``--methods`` and the accepted names; ImportError (with the
    extra to install) when a method's optional dependency is missing.
    """
    from ..balance import available, get

    names = available()
    for m in methods:
        if m not in names:
            raise ValueError(f"--methods: unknown method {m!r}; choose from {', '.join(names)}")
        if get(m).update_batch == "held_out":
            raise ValueError(f"--methods: {m!r} learns from a held-out batch, which the "
                             "analysis does not set aside; drop it")
    return methods


#: the name of CORE-MTL's row in stage 6 (a model, not a balancing method)
CORE_MTL = "core_mtl"


def is_image_data(input_shape: tuple[int, ...], info: Mapping[str, Any] | None = None
                  ) -> bool:
    """Whether a task set holds images: inputs ``(C, H, W)``, or flat vectors that the
    loader flattened from images (``info["image_shape"]``, see
    :func:`tasklens.analysis.load_data`)."""
    return image_shape_of(input_shape, info) is not None


def image_shape_of(input_shape: tuple[int, ...], info: Mapping[str, Any] | None = None
                   ) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of image data (inputs of that shape, or flat vectors flattened from
    ``info["image_shape"]``), else ``None``."""
    if len(tuple(input_shape)) == 3:
        return tuple(int(v) for v in input_shape)  # type: ignore[return-value]
    shape = (info or {}).get("image_shape")
    if shape is not None and len(tuple(shape)) == 3:
        return tuple(int(v) for v in shape)  # type: ignore[return-value]
    return None


def image_model_for(settings: AnalysisSettings, input_shape: tuple[int, ...],
                    info: Mapping[str, Any] | None = None) -> str:
    """What the analysis's models read: ``"conv"`` or ``"mlp"`` on image data
    (``settings.image_model``), ``"mlp"`` on tabular data (the setting is ignored).

    The conv encoder is ``settings.image_encoder`` (LeNet at the fast budget, SmallResNet
    above; see :class:`AnalysisSettings`).
    """
    if image_shape_of(input_shape, info) is None:
        return "mlp"
    return settings.image_model


def model_description(settings: AnalysisSettings, input_shape: tuple[int, ...],
                      info: Mapping[str, Any] | None = None) -> str:
    """One line for the report's header: ``"conv (SmallResNet) on 3×8×8 images"``,
    ``"mlp (64 hidden) on 3×8×8 images (flattened pixels)"`` or
    ``"mlp (64 hidden) on 10 features"``."""
    shape = image_shape_of(input_shape, info)
    hidden = "×".join(map(str, settings.hidden))
    if shape is None:
        return f"mlp ({hidden} hidden) on {math.prod(input_shape)} features"
    dims = "×".join(map(str, shape))
    if image_model_for(settings, input_shape, info) == "conv":
        return f"conv ({IMAGE_ENCODER_NAMES[settings.image_encoder]}) on {dims} images"
    return f"mlp ({hidden} hidden) on {dims} images (flattened pixels)"


def core_mtl_enabled(settings: AnalysisSettings, input_shape: tuple[int, ...],
                     info: Mapping[str, Any] | None = None) -> bool:
    """Stage 6 compares CORE-MTL: ``settings.core_mtl`` when set, else (``None``)
    exactly when the data are images (:func:`is_image_data`).

    CORE-MTL reads the inputs the other models of the analysis read (the same encoder:
    conv on images by default, with a conv decoder rendering images; the MLP with an MLP
    decoder under ``image_model="mlp"``; soft grounding, eq. 15), so its row differs from
    HPS only by the dual stream and eq. 16's terms. ``core_mtl=True`` on
    tabular data is allowed (the method does not need images, only its motivation does).
    """
    if settings.core_mtl is None:
        return is_image_data(input_shape, info)
    return bool(settings.core_mtl)


def check_against_data(settings: AnalysisSettings, n_tasks: int) -> None:
    """Options that depend on the data (checked before any work)."""
    if settings.max_networks is not None and settings.max_networks > n_tasks:
        raise ValueError(f"--max-networks {settings.max_networks} exceeds the {n_tasks} tasks; "
                         f"use at most {n_tasks}")
    check_methods(settings.methods)
