"""shared.json_text: JSON from outside parsed within limits, every refusal a ValueError to show."""
from __future__ import annotations

import pytest

from shared import json_text
from shared.json_text import MAX_DEPTH, RefusedJSON


def test_ordinary_json_is_parsed_from_text_or_bytes():
    document = '{"a": [1, 2.5, "x", null, true], "emoji": "\\ud83d\\ude00", "brackets": "[[{{"}'
    assert json_text.loads(document) == json_text.loads(document.encode()) == {
        "a": [1, 2.5, "x", None, True], "emoji": "\U0001f600", "brackets": "[[{{"}


def test_nesting_is_allowed_to_the_limit_and_refused_beyond_it():
    assert json_text.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(RefusedJSON, match=f"nested at most {MAX_DEPTH} levels"):
        json_text.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(RefusedJSON, match="nested"):
        json_text.loads('{"a":' * 100_000 + "1" + "}" * 100_000)  # far beyond Python's recursion limit


def test_brackets_inside_strings_are_not_nesting():
    text = '["' + "[{" * 1000 + '\\"[\\" ]", "]"]'
    assert json_text.loads(text) == ["[{" * 1000 + '"[" ]', "]"]


@pytest.mark.parametrize("text, message", [
    ('"\\ud800"', "lone surrogates"),
    ('{"\\udc00": 1}', "lone surrogates"),
    ('["ok", {"deep": ["\\ud83d"]}]', "lone surrogates"),
    ("9" * 5000, "4,300 digits"),
    ("1e999", "finite"),
    ("NaN", "not JSON"),
    ("Infinity", "not JSON"),
    (b'"\xed\xa0\x80"', "UTF-8"),
    ("{'a': 1}", "line 1, column 2"),
])
def test_what_no_database_or_encoder_takes_is_refused(text, message):
    with pytest.raises(RefusedJSON, match=message):
        json_text.loads(text)


def test_an_escaped_backslash_before_u_is_text_not_a_surrogate():
    assert json_text.loads('"\\\\ud800"') == "\\ud800"
