"""Loss weighting and gradient aggregation for multi-task training: one protocol, one registry.

Every method is a small :class:`BalanceMethod` that declares what it reads (``requires`` ⊆
{losses, gramian, jacobian}), at which gradient ``levels`` it works (parameter and/or
representation; none for loss-only methods), and whether it returns task ``weights`` or a
``direction``. The trainer asks the gradient engine for exactly that, checks the method with
:meth:`BalanceMethod.prepare` before training, and calls ``weights`` / ``direction`` every step
and ``update`` after it. Weights follow the *sum* convention (EW is ``w = 1``; see
:mod:`tasklens.balance._base`).

>>> import torch
>>> from tasklens import balance
>>> jac = torch.tensor([[1.0, 0.0], [-0.5, 1.0]])
>>> balance.get("pcgrad").aggregate(jac)  # doctest: +SKIP

Loss-based: ``ew``, ``rlw``, ``uw``, ``dwa``, ``gls``, ``famo``, ``stch``, ``excess_mtl``
(reads the Jacobian's squares), ``db_mtl`` (reads losses and the Jacobian). Gradient-based:
``mgda``, ``pcgrad``, ``cagrad``, ``gradvac``, ``imtl_g``, ``nash_mtl``, ``aligned_mtl``,
``fairgrad``, ``upgrad``, ``gradnorm``, ``graddrop``. Bi-level: ``moml`` (its ``update`` needs
held-out task gradients after each step). Representation-level: ``repmtl`` (adds
differentiable regularisers of the task gradients w.r.t. the shared ``z`` to the EW objective;
the engine backpropagates them with second-order terms).

Added in this release: ``constant`` (loss-based); ``imtl`` (IMTL-L + IMTL-G), ``dualproj``,
``config``, ``pcd`` (primary task first), ``cr_mogm`` (EMA of a base method's weights),
``modo``, ``sdmgrad``, ``moco`` (tracked gradients; returns a direction); Byzantine-robust
``krum`` and ``trimmed_mean`` (coordinate-wise; returns a direction).
"""

from ._base import (
    HEAD_GRADIENTS,
    INPUTS,
    LEVELS,
    OUTPUTS,
    UPDATE_BATCHES,
    BalanceContext,
    BalanceMethod,
)
from ._heads import NonFiniteGradientError
from ._registry import METHODS, available, get
from .aligned_mtl import AlignedMTL
from .cagrad import CAGrad
from .config import ConFIG
from .constant import Constant
from .cr_mogm import CRMOGM
from .db_mtl import DBMTL
from .distributed import GradientReducer, TorchDistributedReducer
from .dualproj import DualProj
from .dwa import DWA
from .engine import StepPlan, StepResult, backward, execute, plan_step, update_after_step
from .ew import EW
from .excess_mtl import ExcessMTL
from .fairgrad import FairGrad
from .famo import FAMO
from .gls import GLS
from .graddrop import GradDrop
from .gradnorm import GradNorm
from .gradvac import GradVac
from .imtl import IMTL
from .imtl_g import IMTLG
from .kernel_gramian import (
    KernelGramianError,
    LayerRecorder,
    LinearRecorder,
    gramian_with_fallback,
    linear_kernel_gramian,
)
from .krum import Krum
from .mgda import MGDA
from .moco import MoCo
from .modo import MoDo
from .moml import MOML
from .nash_mtl import NashMTL
from .pcd import PCD
from .pcgrad import PCGrad
from .repmtl import RepMTL, cross_task_saliency_alignment, task_saliency_entropy
from .rlw import RLW
from .sdmgrad import SDMGrad
from .stch import STCH
from .trimmed_mean import TrimmedMean
from .upgrad import UPGrad
from .uw import UW

__all__ = [
    "CRMOGM",
    "DBMTL",
    "DWA",
    "EW",
    "FAMO",
    "GLS",
    "HEAD_GRADIENTS",
    "IMTL",
    "IMTLG",
    "INPUTS",
    "LEVELS",
    "METHODS",
    "MGDA",
    "MOML",
    "OUTPUTS",
    "PCD",
    "RLW",
    "STCH",
    "UPDATE_BATCHES",
    "UW",
    "AlignedMTL",
    "BalanceContext",
    "BalanceMethod",
    "CAGrad",
    "ConFIG",
    "Constant",
    "DualProj",
    "ExcessMTL",
    "FairGrad",
    "GradDrop",
    "GradNorm",
    "GradVac",
    "GradientReducer",
    "KernelGramianError",
    "Krum",
    "LayerRecorder",
    "LinearRecorder",
    "MoCo",
    "MoDo",
    "NashMTL",
    "NonFiniteGradientError",
    "PCGrad",
    "RepMTL",
    "SDMGrad",
    "StepPlan",
    "StepResult",
    "TorchDistributedReducer",
    "TrimmedMean",
    "UPGrad",
    "available",
    "backward",
    "cross_task_saliency_alignment",
    "execute",
    "get",
    "gramian_with_fallback",
    "linear_kernel_gramian",
    "plan_step",
    "task_saliency_entropy",
    "update_after_step",
]
