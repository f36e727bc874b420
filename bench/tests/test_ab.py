"""bench/ab.py's pure parts: percentiles, the pairs' spread, B/A ratios, run order, table rows."""

from __future__ import annotations

import pytest

from bench import ab
from bench.latency import Figures


def test_triple_is_p50_p95_p99_in_ms() -> None:
    values = [i / 100 for i in range(101)]  # 0 .. 1 s
    assert ab.triple(values) == pytest.approx((500.0, 950.0, 990.0))
    assert ab.triple([]) is None


def test_run_metrics_counts_missing_finals_and_wer() -> None:
    figures = Figures(eos_final=[0.5, 1.0], first_partial=[0.25], finals=2, utterances=3, errors=1, words=20)
    metrics = ab.run_metrics(figures)
    assert list(metrics) == [*ab.METRICS, *ab.CONTRACT]
    assert metrics["final p50"] == pytest.approx(750.0)
    assert metrics["first p99"] == pytest.approx(250.0)
    assert metrics["WER %"] == pytest.approx(5.0)
    assert metrics["missing"] == 1.0
    assert metrics["cpu asr s"] is None  # not measured


def test_run_metrics_takes_cpu_seconds_by_role() -> None:
    metrics = ab.run_metrics(Figures(), {"asr": 30.5, "vad": 4.0, "gateway": 2.0, "redis": 0.5})
    assert [metrics[name] for name in ab.CPU] == [30.5, 4.0, 2.0, 0.5]


def test_run_metrics_without_results_is_unknown_not_zero() -> None:
    metrics = ab.run_metrics(Figures(utterances=5))
    assert metrics["final p95"] is None and metrics["first p50"] is None and metrics["WER %"] is None
    assert metrics["missing"] == 5.0


def test_run_metrics_counts_contract_faults() -> None:
    metrics = ab.run_metrics(Figures(overlapping=2, repeated=1))
    assert (metrics["overlapping"], metrics["repeated"]) == (2.0, 1.0)


def test_summary_row_with_speech_starts_with_the_kind() -> None:
    runs = [{"final p50": 100.0}]
    row = ab.summary_rows(8, runs, runs, names=("final p50",), speech="calls")[0]
    assert row.startswith("| calls | 8 | final p50 | 100 [100-100] |")
    assert row.count("|") == ab.SPEECH_SUMMARY_HEADER.split("\n")[0].count("|")


def test_spread_is_median_and_range_of_known_values() -> None:
    assert ab.spread([3.0, None, 1.0, 2.0]) == ab.Spread(2.0, 1.0, 3.0)
    assert ab.spread([4.0, 1.0]) == ab.Spread(2.5, 1.0, 4.0)
    assert ab.spread([None]) is None


def test_ratio() -> None:
    assert ab.ratio(150.0, 100.0) == pytest.approx(1.5)
    assert ab.ratio(0.0, 0.0) == 1.0  # no missing finals on either side: no change
    assert ab.ratio(2.0, 0.0) is None
    assert ab.ratio(None, 1.0) is None and ab.ratio(1.0, None) is None


def test_pair_ratios_pair_up_runs_and_refuse_unequal_counts() -> None:
    assert ab.pair_ratios([100.0, 200.0], [110.0, 100.0]) == pytest.approx([1.1, 0.5])
    with pytest.raises(ValueError):
        ab.pair_ratios([1.0], [1.0, 2.0])


def test_sides_alternate_which_runs_first() -> None:
    assert [ab.order(p) for p in range(4)] == [("A", "B"), ("B", "A"), ("A", "B"), ("B", "A")]


def test_summary_row_shows_medians_ranges_ratio_and_pairs_higher() -> None:
    def run(p95: float) -> dict:
        return {name: None for name in ab.METRICS} | {"final p95": p95, "missing": 0.0}

    rows = ab.summary_rows(16, [run(1000), run(1200), run(1100)], [run(1500), run(1100), run(1650)])
    p95 = next(r for r in rows if "| final p95 |" in r)
    assert p95 == "| 16 | final p95 | 1100 [1000-1200] | 1500 [1100-1650] | 1.36 | 0.92-1.50 | 2/3 |"
    missing = next(r for r in rows if "| missing |" in r)
    assert missing == "| 16 | missing | 0 [0-0] | 0 [0-0] | 1.00 | 1.00-1.00 | 0/3 |"
    assert "| first p50 | n/a | n/a | n/a | n/a | 0/0 |" in next(r for r in rows if "first p50" in r)


def test_parse_env_takes_key_value_and_names_a_bad_item() -> None:
    assert ab.parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(SystemExit, match="NOEQUALS"):
        ab.parse_env(["NOEQUALS"])


def test_pooled_takes_every_run_together() -> None:
    assert ab.pooled([[0.1, 0.2], [0.3]]) == ab.triple([0.1, 0.2, 0.3])
    assert ab.pooled([[], []]) is None


def test_ratio_interval_brackets_a_real_shift_and_not_a_null_one() -> None:
    base = [[0.5 + 0.01 * i for i in range(40)] for _ in range(3)]
    slower = [[1.2 * x for x in run] for run in base]
    low, high = ab.ratio_interval(base, slower, 95, rounds=300)
    assert 1.0 < low <= 1.2 <= high  # 20 % slower: the whole interval above 1
    low, high = ab.ratio_interval(base, base, 95, rounds=300)
    assert low <= 1.0 <= high  # the same values: 1 inside
    assert ab.ratio_interval(base, [[]], 95) is None


def test_ratio_interval_is_seeded() -> None:
    runs = [[0.3, 0.9, 0.4], [0.6, 0.2]]
    assert ab.ratio_interval(runs, runs[::-1], 95, rounds=50) == ab.ratio_interval(runs, runs[::-1], 95, rounds=50)


def test_pooled_rows_give_ratio_interval_and_count() -> None:
    a = {"final": [[1.0, 1.0]], "first": [[0.5]]}
    b = {"final": [[2.0, 2.0]], "first": [[0.5]]}
    rows = ab.pooled_rows(8, a, b, rounds=20)
    assert len(rows) == 6
    assert rows[1] == "| 8 | final p95 | 1000 | 2000 | 2.00 | 2.00-2.00 | 2 |"
    assert rows[4].startswith("| 8 | first p95 | 500 | 500 | 1.00 |")
