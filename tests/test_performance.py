"""The performance page script (python -m wf_sc.benchmark.performance): table and loaders."""

from __future__ import annotations

from wf_sc.benchmark.performance import PERF_DATASETS, load, to_markdown


def test_table_has_one_row_per_measurement():
    rows = [
        dict(dataset="emt10", threads=t, n_cells=3133, dim=10, n_times=4, seconds=60.0 * t, stage1=20.0,
             stage2=40.0, peak_rss_mb=612.4, load_before=0.1, load_after=1.0)
        for t in (1, 2)
    ]
    text = to_markdown(rows, "python -m wf_sc.benchmark.performance --datasets emt10")
    assert "python -m wf_sc.benchmark.performance --datasets emt10" in text
    assert "| emt10 | 3133 | 10 | 4 | 1 | 60.0 | 20.0 | 40.0 | 612 | 0.1 / 1.0 |" in text
    assert "| emt10 | 3133 | 10 | 4 | 2 | 120.0 |" in text


def test_simulated_dataset_loads_offline():
    assert set(PERF_DATASETS) >= {"emt10", "toggle_switch"}
    adata = load("toggle_switch")
    assert adata.n_obs > 0 and "time" in adata.obs
