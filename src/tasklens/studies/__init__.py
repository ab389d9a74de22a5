"""End-to-end studies: orchestrations that build models, train them and measure them.

They sit above every other library layer (data → models/theory → measurements → here);
nothing below imports them. :mod:`tasklens.studies.disentanglement` runs Maziarka et al. 2022
§4.1–4.3;
:mod:`tasklens.studies.paper000` (with ``paper000_settings`` and ``paper000_plots``)
reproduces Anon. 2025's figures 3-6; :mod:`tasklens.studies.core_mtl_analysis` and
:mod:`tasklens.studies.core_mtl_scm` hold
Wu et al. 2026's analyses (§4.4) and its linear-Gaussian SCM (§2.2, App. A);
:mod:`tasklens.studies.core_mtl_shortcut` its shortcut stress test (App. I) and
:mod:`tasklens.studies.core_mtl_robustness` its corruption robustness (App. J), component
ablation (Table 5) and λ sensitivity (App. G/H) on the same protocol;
:mod:`tasklens.studies.core_mtl_scaling` its scaling with the number of tasks (Table 4) and
:mod:`tasklens.studies.core_mtl_grounding` hard vs soft grounding under a photometric shift;
:mod:`tasklens.studies.core_mtl_gradients` its gradient orthogonality over training (Fig. 4-5).
"""

from .core_mtl_analysis import (
    GradientCosineRecorder,
    GradientCosines,
    StabilityResult,
    StabilityRow,
    StreamProbe,
    counterfactual_grid,
    gradient_cosines,
    last_shared_layer,
    reconstructions,
    stability_under_intervention,
    stream_probe,
)
from .core_mtl_gradients import OrthogonalityResult, gradient_orthogonality, save_orthogonality
from .core_mtl_grounding import GroundingResult, grounding_study, save_grounding
from .core_mtl_robustness import (
    AblationResult,
    CorruptionResult,
    SensitivityResult,
    component_ablation,
    corruption_robustness,
    lambda_sensitivity,
    save_robustness,
)
from .core_mtl_scaling import (
    ScalingResult,
    interleaved_epoch_times,
    save_scaling,
    scaling_study,
)
from .core_mtl_scm import (
    ScmGap,
    ScmGapGrid,
    ood_gap_eq27,
    ood_gap_population,
    scm_gap_grid,
    simulate_scm_gap,
)
from .core_mtl_shortcut import (
    ShortcutResult,
    save_core_mtl_figures,
    save_shortcut,
    shortcut_stress_test,
)
from .disentanglement import METRIC_COLUMNS, STUDY_PARTS, StudyConfig, StudyResult, run_study
from .grouping_validation import GroupingValidation, random_groupings, validate_grouping
from .paper000 import (
    PAPER_VALUES,
    Figure3Result,
    Figure4Result,
    Figure5Result,
    Figure6Result,
    appendix_d2_spectra,
    figure3,
    figure4,
    figure5,
    figure6,
)
from .paper000_plots import plot_figure3, plot_figure4, plot_figure5, plot_figure6
from .paper000_settings import FULL, QUICK, compute_paper_figures, paper_numbers

__all__ = [
    "FULL",
    "METRIC_COLUMNS",
    "PAPER_VALUES",
    "QUICK",
    "STUDY_PARTS",
    "AblationResult",
    "CorruptionResult",
    "Figure3Result",
    "Figure4Result",
    "Figure5Result",
    "Figure6Result",
    "GradientCosineRecorder",
    "GradientCosines",
    "GroundingResult",
    "GroupingValidation",
    "OrthogonalityResult",
    "ScalingResult",
    "ScmGap",
    "ScmGapGrid",
    "SensitivityResult",
    "ShortcutResult",
    "StabilityResult",
    "StabilityRow",
    "StreamProbe",
    "StudyConfig",
    "StudyResult",
    "appendix_d2_spectra",
    "component_ablation",
    "compute_paper_figures",
    "corruption_robustness",
    "counterfactual_grid",
    "figure3",
    "figure4",
    "figure5",
    "figure6",
    "gradient_cosines",
    "gradient_orthogonality",
    "grounding_study",
    "interleaved_epoch_times",
    "lambda_sensitivity",
    "last_shared_layer",
    "ood_gap_eq27",
    "ood_gap_population",
    "paper_numbers",
    "plot_figure3",
    "plot_figure4",
    "plot_figure5",
    "plot_figure6",
    "random_groupings",
    "reconstructions",
    "run_study",
    "save_core_mtl_figures",
    "save_grounding",
    "save_orthogonality",
    "save_robustness",
    "save_scaling",
    "save_shortcut",
    "scaling_study",
    "scm_gap_grid",
    "shortcut_stress_test",
    "simulate_scm_gap",
    "stability_under_intervention",
    "stream_probe",
    "validate_grouping",
]
