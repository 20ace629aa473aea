"""The benchmark report's wording: ratios read as faster or slower, never a
negative share."""

import pytest

from benchmarks.report import first_call_s, quick_lines, speed_words, split_lines


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


def _quick_row(impl, operation, k, median_s, warmup_s=None, agrees=True):
    return {
        "workload": "poisson",
        "label": f"K={k}",
        "params": {"n_components": k, "n_sequences": 10, "n_steps": 1000},
        "operation": operation,
        "implementation": impl,
        "scale": 1.0,
        "median_s": median_s,
        "warmup_s": median_s if warmup_s is None else warmup_s,
        "agrees": None if impl == "fasthmm" else agrees,
        "other_load": 0.0,
    }


def test_first_calls_count_only_the_first_size_beyond_run_time():
    rows = [
        _quick_row("fasthmm", "score", 4, 0.001, warmup_s=2.001),
        _quick_row("fasthmm", "decode", 4, 0.002, warmup_s=1.002),
        _quick_row("fasthmm", "score", 16, 0.003, warmup_s=0.5),  # noise, later size
        _quick_row("hmmlearn-log", "score", 4, 0.01, warmup_s=9.0),
    ]
    assert first_call_s(rows) == {"poisson": pytest.approx(3.0)}


def test_quick_table_puts_each_reference_beside_fasthmm():
    rows = [
        _quick_row("fasthmm", "score", 4, 0.001, warmup_s=1.0),
        _quick_row("hmmlearn-log", "score", 4, 0.004),
        _quick_row("hmmlearn-scaling", "score", 4, 0.0005),
        _quick_row("naive", "score", 4, 0.002, agrees=False),
    ]
    lines = quick_lines({"results": rows})
    header = next(x for x in lines if x.startswith("model"))
    row = next(x for x in lines if x.startswith("poisson"))
    assert header.split("  ")[-1].strip() == "check"
    assert "vs hmmlearn log" in header and "vs naive NumPy" in header
    assert "4.0x faster" in row and "2.0x slower" in row and "2.0x faster" in row
    assert row.index("4.0x faster") < row.index("2.0x slower") < row.index("2.0x f")
    assert "MISMATCH naive" in row
    assert any("first calls" in x and "poisson 1.0 s" in x for x in lines)
