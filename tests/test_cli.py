"""The command line, ``wf-sc fit``, called in-process through :func:`wf_sc.cli.main`."""

from __future__ import annotations

import contextlib
import io
import time

import anndata as ad
import numpy as np
import pytest

import wf_sc as wf
from wf_sc.cli import main




@pytest.fixture(scope="module")
def cli_input(tmp_path_factory, tiny_adata_factory):
    """40 cells x 3 times, 2-D data in .X, times in obs['day'], written to an .h5ad."""
    path = tmp_path_factory.mktemp("cli") / "tiny.h5ad"
    tiny_adata_factory(time_key="day").write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def cli_run(cli_input):
    """One successful run for the module: (return code, stdout, stderr, output path, seconds).

    The CLI trains at its default settings except ``--set stage2_steps=3``: about 6-8 s here.
    """
    out = cli_input.with_name("out.h5ad")
    argv = ["fit", str(cli_input), "--use-rep", "X", "--time-key", "day", "--set", "stage2_steps=3", "-q", "-o", str(out)]
    stdout, stderr = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(argv)
    return rc, stdout.getvalue(), stderr.getvalue(), out, time.perf_counter() - start


def _run(argv, capsys) -> tuple[int, str, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --------------------------------------------------------------------------- success


def test_fit_returns_0_and_writes_the_results(cli_run, cli_input):
    rc, stdout, stderr, out, _ = cli_run
    assert rc == 0, stderr
    assert out.exists()
    adata = ad.read_h5ad(out)
    source = ad.read_h5ad(cli_input)
    assert adata.n_obs == source.n_obs == 120
    rec = adata.uns["weightflow"]
    assert np.asarray(rec["times"]).tolist() == [0.0, 1.0, 2.0]
    assert rec["params"]["time_key"] == "day" and rec["params"]["use_rep"] == "X"
    assert int(rec["params"]["stage2_steps"]) == 3
    assert len(rec["history"]["stage2"]["total"]) == 3
    assert adata.obsm["wf_velocity"].shape == (120, 2) and np.isfinite(adata.obsm["wf_velocity"]).all()
    assert np.isfinite(adata.obs["wf_log_density"]).all()
    # the written model is usable again
    model = wf.tl.WeightFlow.from_adata(adata, device="cpu")
    np.testing.assert_allclose(
        model.log_density(adata.X, adata.obs["day"].to_numpy()), adata.obs["wf_log_density"], rtol=1e-4, atol=1e-4
    )
    # the input file is left alone
    assert "weightflow" not in source.uns and "wf_velocity" not in source.obsm


def test_fit_prints_a_summary_and_nothing_on_stderr_when_quiet(cli_run):
    _, stdout, stderr, out, _ = cli_run
    assert stderr == "", f"-q run wrote to stderr: {stderr!r}"
    assert "120 cells, 2 dims (X)" in stdout
    assert "[0.0, 1.0, 2.0]" in stdout
    assert f"written:     {out}" in stdout
    assert "(validation, per time, in X units)" in stdout  # the summary says which units its NLL is in


# --------------------------------------------------------------------------- errors


def test_wrong_time_key_returns_2_and_lists_the_columns(cli_input, tmp_path, capsys):
    out = tmp_path / "never.h5ad"
    rc, stdout, stderr = _run(
        ["fit", str(cli_input), "--use-rep", "X", "--time-key", "time", "-q", "-o", str(out)], capsys
    )
    assert rc == 2
    assert stderr.startswith("wf-sc: ") and "'time' not found" in stderr, stderr
    assert "'day'" in stderr and "'batch'" in stderr, f"available columns not listed: {stderr}"
    assert "Traceback" not in stderr and stdout == ""
    assert not out.exists()


def test_missing_input_file_returns_2(tmp_path, capsys):
    missing = tmp_path / "nope.h5ad"
    rc, stdout, stderr = _run(["fit", str(missing), "--time-key", "day", "-q"], capsys)
    assert rc == 2
    assert str(missing) in stderr and "does not exist" in stderr, stderr
    assert stdout == ""


def test_unknown_device_returns_2(cli_input, tmp_path, capsys):
    rc, _, stderr = _run(
        ["fit", str(cli_input), "--use-rep", "X", "--time-key", "day", "--device", "tpu", "-q", "-o", str(tmp_path / "o.h5ad")],
        capsys,
    )
    assert rc == 2 and "unknown device 'tpu'" in stderr, stderr


def test_missing_representation_returns_2(cli_input, tmp_path, capsys):
    rc, _, stderr = _run(["fit", str(cli_input), "--time-key", "day", "-q", "-o", str(tmp_path / "o.h5ad")], capsys)
    assert rc == 2 and "'X_pca' not found" in stderr, stderr


def test_missing_representation_suggests_the_cli_option(cli_input, tmp_path, capsys):
    rc, _, stderr = _run(["fit", str(cli_input), "--time-key", "day", "-q", "-o", str(tmp_path / "o.h5ad")], capsys)
    assert rc == 2 and "--use-rep" in stderr, stderr


def test_an_input_that_is_not_h5ad_returns_2(tmp_path, capsys):
    bad = tmp_path / "notes.h5ad"
    bad.write_text("not an h5ad file")
    rc, _, stderr = _run(["fit", str(bad), "--use-rep", "X", "--time-key", "day", "-q"], capsys)
    assert rc == 2 and str(bad) in stderr, stderr


def test_an_unwritable_output_is_refused_before_fitting(cli_input, tmp_path, capsys, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("wf.tl.fit ran although the output path cannot be written")

    monkeypatch.setattr(wf.tl, "fit", no_fit)
    out = tmp_path / "no_such_folder" / "out.h5ad"
    rc, _, stderr = _run(["fit", str(cli_input), "--use-rep", "X", "--time-key", "day", "-q", "-o", str(out)], capsys)
    assert rc == 2 and str(out.parent) in stderr, stderr
