"""The one query grammar (multimodal.query_terms): the UI's composed-query lines and the CLI's --term."""

from __future__ import annotations

import pytest

from multimodal.cli.main import build_parser
from multimodal.cli.search import _terms
from multimodal.errors import ConfigError, NoPositiveTermError
from multimodal.query_terms import parse_term, parse_terms, require_positive
from multimodal.search import Term


def test_lines_take_a_sign_a_weight_and_a_kind() -> None:
    assert parse_terms("red car\n-0.5 people\n\n# a comment\n+ image: ~/street.jpg\n−2 id: abc\n+.25 text: sky") == [
        Term("text", "red car", 1.0), Term("text", "people", -0.5), Term("image", "~/street.jpg", 1.0),
        Term("id", "abc", -2.0), Term("text", "sky", 0.25)]


@pytest.mark.parametrize(("old", "new"), [
    ("-0.5:text:people", "-0.5 people"),
    ("2:image:./a.jpg", "+2 image: ./a.jpg"),
    ("1:id:abc", "+ id: abc"),
    ("0.3:text:a beach: at dusk", "+0.3 a beach: at dusk"),
])
def test_the_old_cli_form_is_an_alias_of_the_line_form(old: str, new: str) -> None:
    assert parse_term(old) == parse_term(new)


def test_text_that_merely_contains_colons_stays_text() -> None:
    assert parse_term("3:30 pm: meeting") == Term("text", "3:30 pm: meeting", 1.0)
    assert parse_term("image: 12:00.jpg") == Term("image", "12:00.jpg", 1.0)


@pytest.mark.parametrize(("text", "message"), [
    ("-0.5", "line 1 of the composed query has a sign but nothing"),
    ("2:cat:x", "KIND must be text, image or id"),
    ("1:text:", "nothing to search for"),
])
def test_unreadable_lines_are_refused_with_where_they_are(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_terms(text)


@pytest.mark.parametrize("lines", ["", "-1 clouds", "-0.5 people\n- image: ./a.jpg", "0:text:sky"])
def test_a_query_with_nothing_to_search_toward_is_refused(lines: str) -> None:
    with pytest.raises(NoPositiveTermError, match="at least one term with a positive weight"):
        require_positive(parse_terms(lines))
    require_positive(parse_terms(lines + "\n+0.1 sky"))  # one positive term is enough


def test_the_cli_reads_term_in_both_forms_and_wants_a_weight() -> None:
    def terms(*argv: str) -> list[Term]:
        return _terms(build_parser("search").parse_args(["search", *argv]))

    assert terms("--term", "+1 red", "--term", "-0.5 image: ./a.jpg", "--term", "0.2:id:abc") == [
        Term("text", "red", 1.0), Term("image", "./a.jpg", -0.5), Term("id", "abc", 0.2)]
    # argparse takes "-1:text:clouds" after a space for an option: the old negative form needs --term=...
    assert terms("sky", "--term=-1:text:clouds") == [Term("text", "sky"), Term("text", "clouds", -1.0)]
    with pytest.raises(ConfigError, match="--term must start with a signed weight"):
        terms("sky", "--term", "clouds")
    with pytest.raises(ConfigError, match="give a text query") as refused:
        terms("--term", "-1 clouds")  # nothing positive: the library's check, said with the CLI's flags
    assert isinstance(refused.value.__cause__, NoPositiveTermError)
