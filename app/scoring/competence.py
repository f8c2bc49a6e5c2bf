"""How expert is each expert, by their own account: the two self-assessment coefficients of
Delphi practice, computed from a short form each expert fills in before their first round.

- **Competence coefficient K** (Latin-American and Spanish practice; Oñate Martínez, Ramos
  Fernández and Díaz Armesto 1988; Cabero Almenara and Barroso Osuna 2013):
  ``K = (Kc + Ka) / 2``, where ``Kc`` is the expert's knowledge of the subject rated from 0 to 10,
  divided by 10, and ``Ka`` the argumentation coefficient: the points of the level (high, medium,
  low) each source of their knowledge has for them, summed over six sources (all high: 1).
  K >= 0.8 is high competence, 0.5 <= K < 0.8 medium, below 0.5 low.
- **Authority coefficient Cr** (Chinese practice, e.g. in BMJ Open and BMC Delphi studies):
  ``Cr = (Ca + Cs) / 2``, where ``Ca`` is the judgement basis (the points of the influence each basis
  has on the expert's judgements, summed over four bases; all large: 1) and ``Cs`` the expert's
  familiarity with the subject (1 very familiar ... 0.2 very unfamiliar). Cr >= 0.7 is read as an
  authoritative panel.

The panel's figure is the mean of the experts' (``sum(M_j W_j) / M`` in the papers' notation: the
number of experts at each level times its points, over the number of experts).

Pure: levels in, numbers out; the tables are parameters, with the published ones as defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LEVELS = ("high", "medium", "low")  # the three columns of a sources table (large, medium, small influence)

# Oñate et al. 1988, as tabulated by Cabero Almenara & Barroso Osuna 2013 (the sources of argumentation)
COMPETENCE_SOURCES: dict[str, dict[str, float]] = {
    "theory": {"high": 0.3, "medium": 0.2, "low": 0.1},  # theoretical analyses you carried out
    "experience": {"high": 0.5, "medium": 0.4, "low": 0.2},  # your own experience
    "national_works": {"high": 0.05, "medium": 0.05, "low": 0.05},  # works by authors of your country
    "international_works": {"high": 0.05, "medium": 0.05, "low": 0.05},  # works by foreign authors
    "abroad": {"high": 0.05, "medium": 0.05, "low": 0.05},  # your knowledge of the field abroad
    "intuition": {"high": 0.05, "medium": 0.05, "low": 0.05},  # your intuition
}

# The judgement basis (Ca) and familiarity (Cs) tables of Chinese Delphi studies
AUTHORITY_BASIS: dict[str, dict[str, float]] = {
    "practice": {"high": 0.5, "medium": 0.4, "low": 0.3},  # practical experience
    "theory": {"high": 0.3, "medium": 0.2, "low": 0.1},  # theoretical analysis
    "literature": {"high": 0.1, "medium": 0.1, "low": 0.1},  # literature, at home and abroad
    "intuition": {"high": 0.1, "medium": 0.1, "low": 0.1},  # intuition
}
FAMILIARITY: dict[str, float] = {
    "very_familiar": 1.0,
    "familiar": 0.8,
    "somewhat_familiar": 0.6,
    "unfamiliar": 0.4,
    "very_unfamiliar": 0.2,
}


def competence_table(method: str) -> dict[str, dict[str, float]]:
    """The published sources table of a self-assessment method (none: no table)."""
    return {"competence": COMPETENCE_SOURCES, "authority": AUTHORITY_BASIS}.get(method, {})


def with_points(
    table: Mapping[str, Mapping[str, float]], points: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """A sources table with a study's own points where its protocol gives them."""
    return {source: {**levels, **points.get(source, {})} for source, levels in table.items()}


K_HIGH, K_MEDIUM = 0.8, 0.5  # the bands of K
CR_AUTHORITATIVE = 0.7


class AssessmentError(ValueError):
    """A self-assessment that cannot be scored (a level or a source the table does not have)."""


@dataclass(frozen=True)
class Competence:
    kc: float  # knowledge, 0-1
    ka: float  # argumentation, 0-1 with the default table
    k: float

    @property
    def band(self) -> str:
        return competence_band(self.k)


@dataclass(frozen=True)
class Authority:
    ca: float  # judgement basis
    cs: float  # familiarity
    cr: float

    @property
    def authoritative(self) -> bool:
        return self.cr >= CR_AUTHORITATIVE - 1e-12


def competence_band(k: float) -> str:
    """``high`` (K >= 0.8), ``medium`` (0.5 <= K < 0.8) or ``low``; the bands compare with a
    tolerance so that a sum of table points that is 0.8 on paper is high here too."""
    if k >= K_HIGH - 1e-9:
        return "high"
    if k >= K_MEDIUM - 1e-9:
        return "medium"
    return "low"


def _points(levels: Mapping[str, str], table: Mapping[str, Mapping[str, float]]) -> float:
    missing = sorted(set(table) - set(levels))
    if missing:
        raise AssessmentError(f"no level given for {', '.join(missing)}")
    unknown = sorted(set(levels) - set(table))
    if unknown:
        raise AssessmentError(f"unknown sources {', '.join(unknown)}")
    total = 0.0
    for source in sorted(table):  # a fixed order: equal answers give bit-for-bit equal sums
        level = levels[source]
        if level not in LEVELS:
            raise AssessmentError(f"{level!r} is not a level; use {', '.join(LEVELS)}")
        total += float(table[source][level])
    return round(total, 12)


def competence(
    knowledge: float, sources: Mapping[str, str], table: Mapping[str, Mapping[str, float]] = COMPETENCE_SOURCES
) -> Competence:
    """K of one expert: ``knowledge`` from 0 to 10, ``sources`` the level of each source of the table."""
    if not 0 <= knowledge <= 10:
        raise AssessmentError("knowledge is rated from 0 to 10")
    kc = round(float(knowledge) / 10, 12)
    ka = _points(sources, table)
    return Competence(kc, ka, round((kc + ka) / 2, 12))


def authority(
    familiarity: str,
    basis: Mapping[str, str],
    basis_table: Mapping[str, Mapping[str, float]] = AUTHORITY_BASIS,
    familiarity_table: Mapping[str, float] = FAMILIARITY,
) -> Authority:
    """Cr of one expert: their ``familiarity`` with the subject and the influence of each basis of judgement."""
    if familiarity not in familiarity_table:
        raise AssessmentError(f"{familiarity!r} is not a degree of familiarity")
    cs = float(familiarity_table[familiarity])
    ca = _points(basis, basis_table)
    return Authority(ca, cs, round((ca + cs) / 2, 12))


@dataclass(frozen=True)
class PanelCompetence:
    n: int
    kc: float
    ka: float
    k: float
    bands: dict[str, int]  # experts in each band


def panel_competence(experts: Sequence[Competence]) -> PanelCompetence | None:
    """The panel's mean K (and its parts), and how many experts fall in each band."""
    if not experts:
        return None
    n = len(experts)
    bands = {band: sum(1 for e in experts if e.band == band) for band in LEVELS}
    return PanelCompetence(
        n, sum(e.kc for e in experts) / n, sum(e.ka for e in experts) / n, sum(e.k for e in experts) / n, bands
    )


@dataclass(frozen=True)
class PanelAuthority:
    n: int
    ca: float
    cs: float
    cr: float


def panel_authority(experts: Sequence[Authority]) -> PanelAuthority | None:
    """The panel's Ca, Cs and Cr: the means over its experts (the papers' ``sum(M_j W_j) / M``)."""
    if not experts:
        return None
    n = len(experts)
    ca, cs = sum(e.ca for e in experts) / n, sum(e.cs for e in experts) / n
    return PanelAuthority(n, ca, cs, (ca + cs) / 2)
