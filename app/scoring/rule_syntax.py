"""The syntax of the rule language: tokens, the tree, and a recursive-descent parser that checks
names against the ones the caller allows and points at the bad part of the text."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "min": (2, 8, lambda *a: np.minimum.reduce(np.broadcast_arrays(*a))),
    "max": (2, 8, lambda *a: np.maximum.reduce(np.broadcast_arrays(*a))),
    "abs": (1, 1, np.abs),
    "sqrt": (1, 1, np.sqrt),
    "log": (1, 1, np.log),
    "log1p": (1, 1, np.log1p),
}
# A consensus rule may read a figure in every stakeholder group: ``min_group(agreement) >= 0.7``
# holds where the group with the lowest agreement reaches 0.7. The call stands for a name of its own
# (``min_group:agreement``) whose values the caller computes from the groups' summaries.
GROUP_FUNCTIONS = ("min_group", "max_group")
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


class Parser:
    def __init__(self, source: str, names: Collection[str], *, group_figures: Collection[str] = ()):
        self.source = source
        self.names = names
        self.group_figures = group_figures  # the names min_group() and max_group() may read (none: no groups)
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
        return self.parse_arithmetic("+-", self.parse_product)

    def parse_product(self) -> Node:
        return self.parse_arithmetic("*/", self.parse_unary)

    def parse_arithmetic(self, operators: str, operand: Callable[[], Node]) -> Node:
        """A left-associative chain of ``operand`` joined by one of ``operators`` (numbers only)."""
        left = operand()
        while self.token.kind == "punct" and self.token.text in operators:
            token = self.tokens[self.index]
            self.index += 1
            right = operand()
            where = f"'{token.text}'"
            left = Binary(
                token.position,
                "number",
                token.text,
                self.need(left, "number", where),
                self.need(right, "number", where),
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

    def parse_group_call(self, name: Token) -> Node:
        """``min_group(<figure>)``: the figure's lowest (or highest) value over the groups."""
        if not self.group_figures:
            raise self.error(f"{name.text}() belongs to consensus rules only", name)
        figure = self.take("name")
        if figure is None or figure.text not in self.group_figures:
            hint = f"{name.text}() takes the name of an item's figure, such as {name.text}(agreement)"
            if figure is not None and figure.text not in self.names:
                hint += "; " + self._unknown(figure.text)
            raise self.error(hint, figure or self.token)
        if self.take("punct", ")") is None:
            raise self.error("expected ')'")
        return Name(name.position, "number", f"{name.text}:{figure.text}")

    def parse_call(self, name: Token) -> Node:
        if name.text in GROUP_FUNCTIONS:
            return self.parse_group_call(name)
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
