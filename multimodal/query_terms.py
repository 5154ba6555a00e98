"""The one query grammar: what people type for a composed query, read the same by the UI and the CLI.

One term per line (the UI's composed-query box) or per `--term` (the CLI). A sign and an optional weight go
first, a kind prefix next; a bare line is text with weight +1:

    red car                 +1 × the text "red car"
    -0.5 people             push away from "people", half as hard
    + image: ~/street.jpg   an image on this machine
    - id: 3f2a...           an indexed image, by id
    -0.5:text:people        the CLI's first form, WEIGHT:KIND:VALUE, still read

A query needs at least one term with a positive weight, something to move toward: `require_positive` is the one
check of that, which both front ends call before searching.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from multimodal.errors import ConfigError, NoPositiveTermError
from multimodal.search import Term

KINDS = {"text": "text", "image": "image", "img": "image", "id": "id"}  # prefix → Term kind
_LINE = re.compile(r"^(?P<sign>[+\-−])(?P<weight>\d+(?:\.\d+)?|\.\d+)?\s*(?P<rest>.*)$")
_KIND = re.compile(r"^(?P<kind>text|image|img|id)\s*:\s*(?P<value>.+)$", re.IGNORECASE)


def parse_terms(text: str) -> list[Term]:
    """A composed query, one term per line (blank lines and `# comments` are skipped).

    Raises:
        ConfigError: a line with a sign but nothing to search for, or an old-form term of an unknown kind.
    """
    return [parse_term(line.strip(), f"line {n} of the composed query")
            for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.strip().startswith("#")]


def parse_term(text: str, where: str = "the term", *, weighted: bool = False) -> Term:
    """One term in the grammar above; `where` names it in an error ("--term", "line 3 of ...").
    `weighted`: the term must start with its weight (the CLI's --term: plain text is the query argument).
    """
    old = _old_form(text, where)
    if old is not None:
        return old
    weight, line = 1.0, text.strip()
    match = _LINE.match(line)
    if weighted and not match:
        raise ConfigError(f"{where} must start with a signed weight, e.g. -0.5 people, +2 image: ./a.jpg or "
                          f"-0.5:text:people, got {text!r}")
    if match:
        magnitude = float(match["weight"]) if match["weight"] else 1.0
        weight = -magnitude if match["sign"] in "-−" else magnitude
        line = match["rest"].strip()
    kind, value = "text", line
    kind_match = _KIND.match(line)
    if kind_match:
        kind, value = KINDS[kind_match["kind"].lower()], kind_match["value"].strip()
    if not value:
        raise ConfigError(f"{where} has a sign but nothing to search for")
    return Term(kind, value, weight)  # type: ignore[arg-type]


def require_positive(terms: Sequence[Term]) -> None:
    """The one check that a query has something to search toward, for every front end.

    Raises:
        NoPositiveTermError: no term has a positive weight (none at all, or only terms that push away).
    """
    if not any(t.weight > 0 for t in terms):
        raise NoPositiveTermError("a query needs at least one term with a positive weight, e.g. red car or "
                                  "+ image: ./a.jpg; terms with a minus sign only push away from something")


def _old_form(text: str, where: str) -> Term | None:
    """WEIGHT:KIND:VALUE (e.g. -0.5:text:people), or None when `text` is not in that form (a number, a word)."""
    parts = text.strip().split(":", 2)
    if len(parts) < 3:
        return None
    try:
        weight = float(parts[0])
    except ValueError:
        return None
    kind = parts[1].strip().lower()
    if kind not in KINDS and not kind.isalpha():
        return None  # "3:30 pm: meeting" is text
    if kind not in KINDS:
        raise ConfigError(f"{where}: in WEIGHT:KIND:VALUE, KIND must be text, image or id, got {parts[1]!r}")
    if not parts[2].strip():
        raise ConfigError(f"{where} has a weight and a kind but nothing to search for")
    return Term(KINDS[kind], parts[2], weight)  # type: ignore[arg-type]
