"""A small, safe language for consensus rules, stopping rules and weighting formulas.

    agreement >= 0.7 and iqr <= 1
    opposition < 15% and not di > 1
    consensus_share >= 1 or stable_share >= 0.8 or round >= max_rounds
    min_group(agreement) >= 0.7 and (round > 1 or agreement >= 0.6)
    0.5 * self_rating / 10 + 0.3 * min(years, 20) / 20

Parsed by a recursive-descent parser into a small tree (never ``eval``); names are checked against
the names the caller allows, and every error points at the bad part of the text. Evaluation is
vectorised: a name may stand for one value per item or per expert.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.scoring.apmo import apmo
from app.scoring.descriptive import ItemSummary
from app.scoring.rule_syntax import FUNCTIONS, Binary, Call, Name, Node, Number, Parser, RuleError, Unary

# every per-item statistic, by its name, the round's number, and APMO (a threshold from the answers)
CONSENSUS_NAMES = frozenset(ItemSummary.METRICS) | {"round", "apmo"}
STOPPING_NAMES = frozenset(
    {
        "round",
        "max_rounds",
        "consensus_share",
        "decided_share",
        "stable_share",
        "items",
        "consensus_items",
        "panel_size",
        "kendall_w",
    }
)


@dataclass(frozen=True)
class Rule:
    """A parsed rule or formula. ``evaluate`` takes one value or one array per name."""

    source: str
    tree: Node

    @property
    def is_condition(self) -> bool:
        return self.tree.type == "bool"

    @property
    def names(self) -> frozenset[str]:
        found: set[str] = set()

        def walk(node: Node) -> None:
            if isinstance(node, Name):
                found.add(node.name)
            elif isinstance(node, Unary):
                walk(node.operand)
            elif isinstance(node, Binary):
                walk(node.left)
                walk(node.right)
            elif isinstance(node, Call):
                for arg in node.args:
                    walk(arg)

        walk(self.tree)
        return frozenset(found)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        missing = sorted(self.names - set(values))
        if missing:
            raise RuleError(f"no value given for {', '.join(missing)}", self.source, 0, len(self.source))
        with np.errstate(invalid="ignore", divide="ignore"):
            return _evaluate(self.tree, values)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _evaluate(node: Node, values: Mapping[str, Any]) -> Any:
    if isinstance(node, Number):
        return node.value if node.type == "number" else bool(node.value)
    if isinstance(node, Name):
        return np.asarray(values[node.name], dtype=np.float64)
    if isinstance(node, Unary):
        operand = _evaluate(node.operand, values)
        return np.logical_not(operand) if node.op == "not" else np.negative(operand)
    if isinstance(node, Call):
        return FUNCTIONS[node.function][2](*(_evaluate(arg, values) for arg in node.args))
    if isinstance(node, Binary):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if node.op == "and":
            return np.logical_and(left, right)
        if node.op == "or":
            return np.logical_or(left, right)
        if node.op in _COMPARE:
            return _COMPARE[node.op](left, right)  # NaN compares false: undefined is not consensus
        return _ARITH[node.op](left, right)
    raise TypeError(f"unknown node {node!r}")


def parse(
    source: str, names: Collection[str], *, expect: str | None = None, group_figures: Collection[str] = ()
) -> Rule:
    """Parse ``source``. ``expect`` is "condition" (a true/false rule) or "number" (a formula);
    ``group_figures`` are the names ``min_group(figure)`` and ``max_group(figure)`` may read.

    Returns
    -------
    Rule
        A parsed rule that can be evaluated on named values; ``RuleError`` (with the position) otherwise.
    """
    if not isinstance(source, str):
        raise ValueError("a rule must be text")
    tree = Parser(source, names, group_figures=group_figures).parse()
    if expect == "condition" and tree.type != "bool":
        raise RuleError("a rule must be a condition, such as 'agreement >= 0.7'", source, 0, len(source))
    if expect == "number" and tree.type != "number":
        raise RuleError("a formula must give a number, not a condition", source, 0, len(source))
    return Rule(source=source, tree=tree)


def parse_consensus_rule(source: str) -> Rule:
    """A consensus rule (a condition on an item's figures, such as ``agreement >= 0.7``; a figure
    in every stakeholder group, ``min_group(agreement) >= 0.7``; the ``round`` number).

    Returns
    -------
    Rule
        The rule, checked to be a condition on the consensus names (``CONSENSUS_NAMES``).
    """
    return parse(source, CONSENSUS_NAMES, expect="condition", group_figures=ItemSummary.METRICS)


def parse_stopping_rule(source: str) -> Rule:
    """A stopping rule (a condition on the round's figures, such as ``consensus_share >= 1``).

    Returns
    -------
    Rule
        The rule, checked to be a condition on the stopping names (``STOPPING_NAMES``).
    """
    return parse(source, STOPPING_NAMES, expect="condition")


def parse_formula(source: str, fields: Collection[str]) -> Rule:
    """A weighting formula (a number from the experts' profile fields).

    Returns
    -------
    Rule
        The formula, checked to be a number computed from ``fields``.
    """
    return parse(source, fields, expect="number")


def consensus(
    rule: Rule | str,
    summary: Any,
    *,
    groups: Mapping[str, Any] | None = None,
    round_number: int | None = None,
) -> np.ndarray:
    """Evaluate a consensus rule on an ``ItemSummary``: one True/False per item. ``groups`` holds
    one ``ItemSummary`` per stakeholder group (the same items), for ``min_group``/``max_group``;
    without groups, the whole panel is the one group. ``round_number`` is what ``round`` reads.

    Returns
    -------
    numpy.ndarray
        One bool per item: whether the rule holds (an item without ratings never has consensus; an
        item a group did not rate has no consensus "in every group").

    References
    ----------
    Diamond et al. 2014 (J Clin Epidemiol 67:401): consensus defined before the study.
    Williamson et al. 2017, COMET Handbook 1.0 (Trials 18:280): consensus in each stakeholder group.
    """
    rule = parse_consensus_rule(rule) if isinstance(rule, str) else rule
    values: dict[str, Any] = {}
    for name in rule.names:
        if name == "apmo":
            values[name] = apmo(summary)
        elif name == "round":
            if round_number is None:
                raise RuleError("this rule reads the round number, which was not given", rule.source, 0)
            values[name] = float(round_number)
        elif ":" in name:
            function, figure = name.split(":", 1)
            stacked = np.vstack([g.metric(figure) for g in (groups or {}).values()] or [summary.metric(figure)])
            # min: a group without ratings (NaN) leaves the item undefined; max: the groups that rated
            values[name] = stacked.min(axis=0) if function == "min_group" else np.fmax.reduce(stacked, axis=0)
        else:
            values[name] = summary.metric(name)
    result = np.broadcast_to(np.asarray(rule.evaluate(values), dtype=bool), (summary.n_items,)).copy()
    if groups and any(name.startswith("min_group:") for name in rule.names):
        # "in every group": a group that did not rate the item keeps it from consensus, whatever the
        # rule's form ("not min_group(agreement) < 0.5" would otherwise read its NaN as true)
        result &= np.logical_and.reduce([np.asarray(g.n) > 0 for g in groups.values()])
    return result


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    values: dict[str, float]


def should_stop(rule: Rule | str, **values: float) -> StopDecision:
    """Evaluate a stopping rule on round-level figures (see ``STOPPING_NAMES``).

    Returns
    -------
    StopDecision
        Whether the study stops, and the values the rule read.

    References
    ----------
    von der Gracht 2012 (Technol Forecast Soc Change 79:1525): stopping on consensus or stability.
    """
    rule = parse_stopping_rule(rule) if isinstance(rule, str) else rule
    return StopDecision(stop=bool(np.all(rule.evaluate(values))), values=dict(values))
