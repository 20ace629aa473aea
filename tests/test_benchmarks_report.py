"""The benchmark report's wording: ratios read as faster or slower, never a
negative share."""

import pytest

from benchmarks.report import speed_words, split_lines


@pytest.mark.parametrize(
    "ratio, words",
    [
        (2.0, "2.0x faster"),
        (0.9, "1.1x slower"),
        (0.5, "2.0x slower"),
        (1.01, "as fast"),
    ],
)
def test_speed_words(ratio, words):
    assert speed_words(ratio) == words


def _row(operation, best_s):
    return {
        "label": "K=4",
        "operation": operation,
        "implementation": "fasthmm",
        "best_s": best_s,
        "median_s": best_s,
    }


def test_split_shows_no_negative_rest():
    # The steps' best times (separate runs) add up to more than the call's.
    rows = [
        _row("viterbi", 1e-3),
        _row("viterbi/exp", 0.6e-3),
        _row("viterbi/max", 0.6e-3),
    ]
    text = "\n".join(split_lines(rows, None))
    assert "rest ~0" in text and "-" not in text.split("rest")[-1].split("(")[0]


def test_split_shows_the_rest_and_its_share():
    rows = [
        _row("viterbi", 1e-3),
        _row("viterbi/exp", 0.3e-3),
        _row("viterbi/max", 0.5e-3),
    ]
    text = "\n".join(split_lines(rows, None))
    assert "(20%)" in text.split("rest")[-1]
