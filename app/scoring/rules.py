"""A small, safe language for consensus rules, stopping rules and weighting formulas.

    agreement >= 0.7 and iqr <= 1
    opposition < 15% and not di > 1
    consensus_share >= 1 or stable_share >= 0.8 or round >= max_rounds
    0.5 * self_rating / 10 + 0.3 * min(years, 20) / 20

Parsed by a recursive-descent parser into a small tree (never ``eval``); names are checked against
the names the caller allows, and every error points at the bad part of the text. Evaluation is
vectorised: a name may stand for one value per item or per expert.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.scoring.descriptive import ItemSummary

CONSENSUS_NAMES = frozenset(ItemSummary.METRICS)  # every per-item statistic, by its name
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
FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "min": (2, 8, lambda *a: np.minimum.reduce(np.broadcast_arrays(*a))),
    "max": (2, 8, lambda *a: np.maximum.reduce(np.broadcast_arrays(*a))),
    "abs": (1, 1, np.abs),
    "sqrt": (1, 1, np.sqrt),
    "log": (1, 1, np.log),
    "log1p": (1, 1, np.log1p),
}
KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?%?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>|=)
  | (?P<punct>[()+\-*/,])
""",
    re.VERBOSE,
)


class RuleError(ValueError):
    """A rule that cannot be parsed or evaluated; ``str()`` shows the text with a caret."""

    def __init__(self, message: str, source: str, position: int, length: int = 1):
        self.message = message
        self.source = source
        self.position = position
        caret = " " * position + "^" * max(length, 1)
        super().__init__(f"{message} (at character {position + 1})\n  {source}\n  {caret}")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise RuleError(f"unexpected character {source[position]!r}", source, position)
        kind = match.lastgroup or ""
        if kind != "space":
            text = match.group()
            if kind == "name" and text.lower() in KEYWORDS:
                kind, text = "keyword", text.lower()
            tokens.append(Token(kind, text, position))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# --- the tree ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    position: int
    type: str  # "number" or "bool"


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


class _Parser:
    def __init__(self, source: str, names: Collection[str]):
        self.source = source
        self.names = names
        self.tokens = tokenize(source)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def error(self, message: str, token: Token | None = None) -> RuleError:
        token = token or self.token
        return RuleError(message, self.source, token.position, len(token.text))

    def take(self, kind: str, text: str | None = None) -> Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            self.index += 1
            return token
        return None

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise self.error("the rule is empty")
        node = self.parse_or()
        if self.token.kind != "end":
            raise self.error(f"unexpected {self.token.text!r}; expected 'and', 'or' or the end of the rule")
        return node

    def need(self, node: Node, type_: str, what: str) -> Node:
        if node.type != type_:
            kind = "a comparison (true/false)" if type_ == "bool" else "a number"
            raise RuleError(f"{what} needs {kind} here", self.source, node.position)
        return node

    def parse_or(self) -> Node:
        left = self.parse_and()
        while (token := self.take("keyword", "or")) is not None:
            right = self.parse_and()
            left = Binary(
                token.position, "bool", "or", self.need(left, "bool", "'or'"), self.need(right, "bool", "'or'")
            )
        return left

    def parse_and(self) -> Node:
        left = self.parse_not()
        while (token := self.take("keyword", "and")) is not None:
            right = self.parse_not()
            left = Binary(
                token.position, "bool", "and", self.need(left, "bool", "'and'"), self.need(right, "bool", "'and'")
            )
        return left

    def parse_not(self) -> Node:
        if (token := self.take("keyword", "not")) is not None:
            return Unary(token.position, "bool", "not", self.need(self.parse_not(), "bool", "'not'"))
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_sum()
        token = self.token
        if token.kind == "op":
            if token.text == "=":
                raise self.error("use '==' to compare, or '>=' / '<='")
            self.index += 1
            right = self.parse_sum()
            node = Binary(
                token.position,
                "bool",
                token.text,
                self.need(left, "number", f"'{token.text}'"),
                self.need(right, "number", f"'{token.text}'"),
            )
            if self.token.kind == "op":
                raise self.error("comparisons cannot be chained; join them with 'and'")
            return node
        return left

    def parse_sum(self) -> Node:
        left = self.parse_product()
        while self.token.kind == "punct" and self.token.text in "+-":
            token = self.tokens[self.index]
            self.index += 1
            right = self.parse_product()
            left = Binary(
                token.position,
                "number",
                token.text,
                self.need(left, "number", f"'{token.text}'"),
                self.need(right, "number", f"'{token.text}'"),
            )
        return left

    def parse_product(self) -> Node:
        left = self.parse_unary()
        while self.token.kind == "punct" and self.token.text in "*/":
            token = self.tokens[self.index]
            self.index += 1
            right = self.parse_unary()
            left = Binary(
                token.position,
                "number",
                token.text,
                self.need(left, "number", f"'{token.text}'"),
                self.need(right, "number", f"'{token.text}'"),
            )
        return left

    def parse_unary(self) -> Node:
        if (token := self.take("punct", "-")) is not None:
            return Unary(token.position, "number", "-", self.need(self.parse_unary(), "number", "'-'"))
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.index += 1
            text = token.text
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            return Number(token.position, "number", value)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.index += 1
            return Number(token.position, "bool", 1.0 if token.text == "true" else 0.0)
        if token.kind == "name":
            self.index += 1
            if self.take("punct", "("):
                return self.parse_call(token)
            if token.text not in self.names:
                raise self.error(self._unknown(token.text), token)
            return Name(token.position, "number", token.text)
        if self.take("punct", "("):
            node = self.parse_or()
            if self.take("punct", ")") is None:
                raise self.error("missing ')'")
            return node
        if token.kind == "end":
            raise self.error("the rule stops too early; a value is missing at the end")
        raise self.error(f"unexpected {token.text!r}; expected a number, a name or '('")

    def parse_call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            raise self.error(f"unknown function {name.text!r}; known: {', '.join(sorted(FUNCTIONS))}", name)
        args: list[Node] = []
        if not self.take("punct", ")"):
            while True:
                args.append(self.need(self.parse_sum(), "number", f"{name.text}()"))
                if self.take("punct", ")"):
                    break
                if self.take("punct", ",") is None:
                    raise self.error("expected ',' or ')'")
        low, high, _ = FUNCTIONS[name.text]
        if not low <= len(args) <= high:
            count = str(low) if low == high else f"{low} to {high}"
            raise self.error(f"{name.text}() takes {count} arguments, got {len(args)}", name)
        return Call(name.position, "number", name.text, tuple(args))

    def _unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.names), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known names: {', '.join(sorted(self.names))}"
        return f"unknown name {name!r}{hint}"


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


def parse(source: str, names: Collection[str], *, expect: str | None = None) -> Rule:
    """Parse ``source``. ``expect`` is "condition" (a true/false rule) or "number" (a formula)."""
    if not isinstance(source, str):
        raise ValueError("a rule must be text")
    tree = _Parser(source, names).parse()
    if expect == "condition" and tree.type != "bool":
        raise RuleError("a rule must be a condition, such as 'agreement >= 0.7'", source, 0, len(source))
    if expect == "number" and tree.type != "number":
        raise RuleError("a formula must give a number, not a condition", source, 0, len(source))
    return Rule(source=source, tree=tree)


def parse_consensus_rule(source: str) -> Rule:
    return parse(source, CONSENSUS_NAMES, expect="condition")


def parse_stopping_rule(source: str) -> Rule:
    return parse(source, STOPPING_NAMES, expect="condition")


def parse_formula(source: str, fields: Collection[str]) -> Rule:
    return parse(source, fields, expect="number")


def consensus(rule: Rule | str, summary: Any) -> np.ndarray:
    """Evaluate a consensus rule on an ``ItemSummary``: one True/False per item."""
    rule = parse_consensus_rule(rule) if isinstance(rule, str) else rule
    values = {name: summary.metric(name) for name in rule.names}
    result = rule.evaluate(values)
    return np.broadcast_to(np.asarray(result, dtype=bool), (summary.n_items,)).copy()


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    values: dict[str, float]


def should_stop(rule: Rule | str, **values: float) -> StopDecision:
    """Evaluate a stopping rule on round-level figures (see ``STOPPING_NAMES``)."""
    rule = parse_stopping_rule(rule) if isinstance(rule, str) else rule
    return StopDecision(stop=bool(np.all(rule.evaluate(values))), values=dict(values))
