"""The scientific core: pure numpy/scipy, no database, HTTP or templates.

>>> from app.scoring import summarize
>>> summarize([[7, 8], [8, 9], [9, 9]]).median.tolist()
[8.0, 9.0]
"""

from app.scoring._kernels import warm_up
from app.scoring.agreement import (
    KendallW,
    PanelAgreement,
    fleiss_kappa,
    kendall_w,
    krippendorff_alpha,
    panel_agreement,
)
from app.scoring.apmo import apmo
from app.scoring.attrition import AttritionComparison, attrition_bias
from app.scoring.camps import Camps, camps
from app.scoring.conformity import Conformity, conformity
from app.scoring.cooke import CookeData, CookeResult, classical_model, decision_maker
from app.scoring.descriptive import QUANTILE_METHODS, ItemSummary, opposite_band, summarize
from app.scoring.narrowing import Candidate, NarrowingResult, NarrowingRule, allocate_seats, narrow
from app.scoring.rules import (
    CONSENSUS_NAMES,
    STOPPING_NAMES,
    Rule,
    RuleError,
    consensus,
    parse,
    parse_consensus_rule,
    parse_formula,
    parse_stopping_rule,
    should_stop,
)
from app.scoring.stability import (
    MCNEMAR_EXACT_BELOW,
    STABLE_PCT_CHANGE,
    WILCOXON_EXACT_UP_TO,
    WILCOXON_ZEROS,
    ItemStability,
    McNemar,
    StuartMaxwell,
    agreement_shift,
    mcnemar,
    signed_rank_test,
    stability,
    stuart_maxwell,
)
from app.scoring.subsets import balanced_subsets, guaranteed_raters
from app.scoring.weighting import (
    ImportanceWeights,
    RankingSummary,
    competition_ranks,
    expert_weights,
    importance_weights,
    normalise_weights,
    summarize_ranking,
)

__all__ = [
    "balanced_subsets",
    "guaranteed_raters",
    "apmo",
    "Camps",
    "camps",
    "Conformity",
    "conformity",
    "warm_up",
    "AttritionComparison",
    "attrition_bias",
    "CONSENSUS_NAMES",
    "QUANTILE_METHODS",
    "MCNEMAR_EXACT_BELOW",
    "STABLE_PCT_CHANGE",
    "STOPPING_NAMES",
    "Candidate",
    "CookeData",
    "CookeResult",
    "ImportanceWeights",
    "ItemStability",
    "ItemSummary",
    "KendallW",
    "NarrowingResult",
    "NarrowingRule",
    "PanelAgreement",
    "RankingSummary",
    "Rule",
    "RuleError",
    "McNemar",
    "agreement_shift",
    "StuartMaxwell",
    "allocate_seats",
    "classical_model",
    "competition_ranks",
    "consensus",
    "decision_maker",
    "expert_weights",
    "fleiss_kappa",
    "importance_weights",
    "kendall_w",
    "krippendorff_alpha",
    "narrow",
    "normalise_weights",
    "opposite_band",
    "panel_agreement",
    "parse",
    "parse_consensus_rule",
    "parse_formula",
    "parse_stopping_rule",
    "should_stop",
    "stability",
    "signed_rank_test",
    "WILCOXON_EXACT_UP_TO",
    "WILCOXON_ZEROS",
    "mcnemar",
    "stuart_maxwell",
    "summarize",
    "summarize_ranking",
]
