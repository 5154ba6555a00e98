"""Turning what people type into library objects: composed-query lines → Terms, filter fields → Filters.

A composed query is one term per line; a sign and an optional weight go first, a kind prefix next:

    red car                 +1 × the text "red car"
    -0.5 people             push away from "people", half as hard
    + image: ~/street.jpg   an image on this machine
    - id: 3f2a...           an indexed image, by id
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multimodal.errors import ConfigError
from multimodal.search import Filters, Term
from multimodal.search import parse_date as _parse_date

_LINE = re.compile(r"^(?P<sign>[+\-−])(?P<weight>\d+(?:\.\d+)?|\.\d+)?\s*(?P<rest>.*)$")
_KIND = re.compile(r"^(?P<kind>text|image|img|id)\s*:\s*(?P<value>.+)$", re.IGNORECASE)
_KINDS = {"text": "text", "image": "image", "img": "image", "id": "id"}
FORMATS = ("JPEG", "PNG", "WEBP", "HEIF", "TIFF", "GIF", "BMP")


def parse_terms(text: str) -> list[Term]:
    """Parse a composed query, one term per line (blank lines and `# comments` are skipped).

    Raises:
        ConfigError: a line that cannot be read, or a query with no positive term.
    """
    terms = [_parse_line(line.strip(), n) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.strip().startswith("#")]
    return terms


def _parse_line(line: str, number: int) -> Term:
    weight = 1.0
    match = _LINE.match(line)
    if match:
        magnitude = float(match["weight"]) if match["weight"] else 1.0
        weight = -magnitude if match["sign"] in "-−" else magnitude
        line = match["rest"].strip()
    kind, value = "text", line
    kind_match = _KIND.match(line)
    if kind_match:
        kind, value = _KINDS[kind_match["kind"].lower()], kind_match["value"].strip()
    if not value:
        raise ConfigError(f"line {number} of the composed query has a sign but nothing to search for")
    return Term(kind, value, weight)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FilterFields:
    """The filter widgets' raw values, as the browser sends them."""

    folder: str | None = None
    format: str | None = None  # "" / "Any" = no filter
    date_from: str | float | None = None  # "YYYY-MM-DD", an ISO date-time, or a Unix timestamp
    date_to: str | float | None = None

    def to_filters(self) -> Filters:
        fmt = (self.format or "").strip()
        return Filters(
            folder=(self.folder or "").strip() or None,
            format=None if fmt.lower() in ("", "any") else fmt,
            date_from=parse_date(self.date_from, "from"),
            date_to=parse_date(self.date_to, "to", end_of_day=True),
        )


def parse_date(value: str | float | None, which: str, *, end_of_day: bool = False) -> float | None:
    """A date field → Unix time (UTC); a bare date used as an upper bound means the end of that day."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    return _parse_date(str(value), f"the '{which}' date", end_of_day=end_of_day)
