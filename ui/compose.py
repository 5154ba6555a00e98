"""Turning what people type into library objects: composed-query lines → Terms (the library's one query
grammar, `multimodal.query_terms`: `-0.5 people`, `+ image: ~/street.jpg`, ...), filter fields → Filters.
"""

from __future__ import annotations

from dataclasses import dataclass

from multimodal.search import Filters, parse_date

FORMATS = ("JPEG", "PNG", "WEBP", "HEIF", "TIFF", "GIF", "BMP")


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
            date_from=parse_date(self.date_from, "the 'from' date"),
            date_to=parse_date(self.date_to, "the 'to' date", end_of_day=True),
        )
