"""The command line end to end, on tiny configurations (seconds)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxseg_losses.cli import main

TINY = ["--size", "16", "--n-train", "4", "--n-test", "2", "--steps", "3", "--batch-size", "2",
        "--features", "4", "--depth", "1", "--eval-every", "2", "--no-progress",
        "--replicas", "loop"]


@pytest.mark.slow
def test_compare_end_to_end(tmp_path, capsys, monkeypatch):
    for module in ("tqdm", "tqdm.auto"):  # --no-progress works without tqdm installed
        monkeypatch.setitem(sys.modules, module, None)
    out = tmp_path / "out"
    code = main(["compare", "--data", "blobs", *TINY, "--seeds", "2", "--out", str(out),
                 "--loss", "ce", "--loss", "0.5*dice + boundary@linear(0.01, 1.0)"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "| `ce` |" in printed and "| `0.5*dice + boundary@linear(0.01, 1)` |" in printed
    assert "Dice ↑" in printed and "HD95 ↓" in printed and "Dice 95 % CI" in printed
    assert "2 seeds (0..1" in printed and "2 losses x 2 seed(s)" in printed
    assert sorted(os.listdir(out)) == ["figure.png", "results.csv", "results.json", "results.md",
                                       "results_per_seed.csv"]
    assert (out / "figure.png").stat().st_size > 10_000
    rows = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    assert [r["loss"] for r in rows] == ["ce", "0.5*dice + boundary@linear(0.01, 1)"]
    assert {r["rank"] for r in rows} == {"1", "2"} and rows[0]["seeds"] == "2"
    assert {r["verdict"] for r in rows} <= {"best", "best by mean", "equivalent", "worse",
                                            "inconclusive"}
    assert {r["correction"] for r in rows} == {"Holm"} and rows[0]["margin"] == "0.02"
    assert "≈1" not in printed and "verdict" in printed and "Holm's correction" in printed
    seeds = list(csv.DictReader(open(out / "results_per_seed.csv", encoding="utf-8")))
    assert [(r["loss"], r["seed"]) for r in seeds][:2] == [("ce", "0"), ("ce", "1")]
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["steps"] == 3 and payload["dataset"]["name"] == "blobs"
    assert payload["config"]["seeds"] == 2 and payload["sequential"] is None
    assert payload["decision"]["alpha"] == 0.05 and payload["decision"]["correction"] == "Holm"
    for row, result in zip(rows, payload["results"], strict=True):
        assert 0.0 <= result["dice"] <= 1.0 and 0.0 <= result["iou"] <= result["dice"] + 1e-6
        assert result["hd95"] >= 0 and result["assd"] >= 0
        assert result["ms_per_step"] > 0 and result["compile_s"] > 0
        assert result["seeds"] == [0, 1] and len(result["per_seed"]["dice"]) == 2
        assert result["dice"] == pytest.approx(np.mean(result["per_seed"]["dice"]))
        assert float(row["dice_mean"]) == pytest.approx(result["dice"])
        summary = result["summary"]["dice"]
        assert summary["ci95_low"] <= summary["mean"] <= summary["ci95_high"]
        assert np.shape(result["train_loss"]) == (2, 3) and result["curve_steps"] == [0, 2, 3]
        assert np.shape(result["curve_dice"]) == (2, 3)
    combined = payload["results"][1]["final_terms"]
    assert set(combined) == {"dice", "dice/weight", "boundary", "boundary/weight"}
    assert combined["dice/weight"] == pytest.approx(0.5)
    assert 0.01 < combined["boundary/weight"] < 1.0  # the schedule moved
    assert "| `ce` |" in (out / "results.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("budget,stopped,seeds", [(None, ("max seeds", "all decided"), 4),
                                                  ("0.01", ("time budget",), 3)])
def test_compare_seeds_auto(tmp_path, capsys, budget, stopped, seeds):
    """Rounds of seeds, all losses paired; looks at 3 and 4 seeds, each at alpha / 2 (an alpha
    so small that nothing is decided at 3 seeds: the run goes on to --max-seeds, or stops on the
    budget)."""
    out = tmp_path / "auto"
    code = main(["compare", "--data", "blobs", *TINY, "--seeds", "auto", "--max-seeds", "4",
                 "--margin", "0.05", "--alpha", "0.002", "--out", str(out), "--no-figure",
                 "--loss", "ce", "--loss", "dice",
                 *(["--time-budget", budget] if budget else [])])
    printed = capsys.readouterr().out
    assert code == 0 and "look 1/2 at 3 seeds (level 0.001): 0 of 1 decided" in printed
    payload = json.loads((out / "results.json").read_text())
    log, decision = payload["sequential"], payload["decision"]
    assert log["plan"] == [3, 4] and decision["looks"] == 2 and log["stopped"] in stopped
    assert decision["level_per_look"] == pytest.approx(0.001) and decision["margin"] == 0.05
    assert [look["seeds"] for look in log["looks"]] == [3, 4][: 1 + (seeds == 4)]
    for result in payload["results"]:
        assert result["seeds"] == list(range(seeds)) and len(result["per_seed"]["dice"]) == seeds
        assert np.shape(result["curve_dice"]) == (seeds, 3)
    assert payload["config"]["seeds"] == seeds
    text = (out / "results.md").read_text()
    assert "`--seeds auto`: looks planned at 3, 4 seeds (max 4" in text
    assert f"stopped after {seeds} seeds" in text
    assert ("**Undecided**" in text) == (log["stopped"] != "all decided")
    rows = list(csv.DictReader(open(out / "results_per_seed.csv", encoding="utf-8")))
    assert [r["seed"] for r in rows if r["loss"] == "ce"] == [str(s) for s in range(seeds)]


@pytest.mark.slow
def test_compare_on_user_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = np.zeros((6, 16, 16), np.int64)
    labels[:, 4:10, 5:12] = 1
    labels[:, 6:8, 7:9] = 2
    images = np.stack([labels, rng.normal(size=labels.shape)], axis=-1).astype(np.float32)
    path = tmp_path / "mine.npz"
    np.savez(path, images=images, labels=labels)
    code = main(["compare", "--data", str(path), *TINY[6:], "--seeds", "1",
                 "--out", str(tmp_path / "o"),
                 "--no-figure", "--loss", "nonadjacency + ce"])
    printed = capsys.readouterr().out
    assert code == 0 and "mine.npz" in printed and "| `nonadjacency + ce` |" in printed
    assert not (tmp_path / "o" / "figure.png").exists()


@pytest.mark.slow
def test_compare_on_a_png_folder(tmp_path, capsys):
    """PNG images and masks of different sizes, 0/255 masks, a 50 % test split, the figure."""
    from tests.helpers import write_png_folder

    sizes = [(16, 16), (18, 17), (16, 20), (17, 16), (20, 18), (16, 16)]
    root = write_png_folder(tmp_path / "pngs", n=6, sizes=sizes, value=255)
    out = tmp_path / "o"
    code = main(["compare", "--data", str(root), "--relabel", "--test-fraction", "0.5",
                 *TINY[6:], "--seeds", "2", "--out", str(out), "--loss", "dice + ce"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Data `pngs`" in printed and "3 train / 3 test images of 16x16" in printed
    assert "\n\nNote: 4 of 6 examples centre-cropped" in printed
    assert "Note: 4 of 6 examples centre-cropped" in (out / "results.md").read_text()
    assert "| `dice + ce` |" in printed and (out / "figure.png").stat().st_size > 10_000
    payload = json.loads((out / "results.json").read_text())
    assert payload["dataset"]["notes"][0].startswith("4 of 6 examples centre-cropped")
    assert payload["dataset"]["absent_test_classes"] == []
    assert payload["results"][0]["figure_seed"] in (0, 1)


@pytest.mark.slow
def test_compare_on_a_nifti_folder(tmp_path, capsys):
    """NIfTI volumes: the header's spacing reaches the distance loss and the metrics."""
    from tests.helpers import write_nifti_folder

    root = write_nifti_folder(tmp_path / "vols", n=4, spacing=(2.0, 1.0, 0.5))
    test = write_nifti_folder(tmp_path / "test", n=1, spacing=(2.0, 1.0, 0.5))
    out = tmp_path / "o"
    code = main(["compare", "--data", str(root), "--test-data", str(test), *TINY[6:],
                 "--seeds", "1", "--out", str(out), "--no-figure",
                 "--loss", "dice + boundary"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "4 train / 1 test images of 8x8x8" in printed
    payload = json.loads((out / "results.json").read_text())
    assert payload["dataset"]["spacing"] == [2.0, 1.0, 0.5]
    assert payload["dataset"]["name"] == "vols (test: test)"
    assert payload["results"][0]["hd95"] >= 0


def _npz(path, labels, n=4):
    labels = np.broadcast_to(np.asarray(labels), (n, *np.shape(labels)))
    np.savez(path, images=np.zeros(labels.shape, np.float32), labels=labels)
    return str(path)


def test_sparse_labels_need_relabel(tmp_path, capsys):
    mask = np.zeros((16, 16), np.int64)
    mask[4:10, 4:10] = 255
    path = _npz(tmp_path / "mask.npz", mask)
    assert main(["compare", "--data", path, "--loss", "dice", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "{0, 255}" in err and "256 classes" in err and "--relabel" in err
    out = tmp_path / "o"
    code = main(["compare", "--data", path, "--relabel", *TINY[6:], "--seeds", "1", "--loss",
                 "dice", "--no-figure", "--out", str(out)])
    assert code == 0 and "2 classes" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["compare", "--loss", "-1*dice"], "a weight must be > 0; got -1"),
    (["compare", "--loss", "0*dice + ce"], "a weight must be > 0; got 0"),
    (["compare", "--loss", "dice - ce"], "terms are added"),
    (["compare", "--loss", "focal(gamma=abc)"], "gamma: expected a number; got 'abc'"),
    (["compare", "--data", "{tmp}/empty.npz"], "empty.npz: holds no examples"),
    (["compare", "--data", "{tmp}/text.npz"], "text.npz: cannot be read"),
    (["compare", "--data", "{tmp}/mask.npz", "--size", "32", "--n-train", "4"],
     "--size, --n-train: only for the built-in data sets"),
    (["compare", "--relabel"], "--relabel: only for user data"),
    (["compare", "--coordinator", "host:1234"], "need --distributed"),
    (["compare", "--out", "{tmp}/text.npz"], "is a file, not a folder"),
    (["compare", "--loss", "dice +"], "expected a loss name"),
    (["compare", "--loss", "focal(gamma=-1)"], "gamma: expected a value >= 0"),
    (["compare", "--loss", "dice(gama=1)"], r"unknown option\(s\) \['gama'\]"),
    (["compare", "--data", "missing.npz"], "missing.npz: no such file"),
    (["compare", "--data", "blobs", "--size", "18"], "not divisible by 2\\*\\*depth = 4"),
    (["compare", "--max-seeds", "5"], "--max-seeds and --time-budget: only with --seeds auto"),
    (["compare", "--seeds", "4", "--time-budget", "60"], "only with --seeds auto"),
    (["compare", "--seeds", "auto", "--max-seeds", "1"], "--max-seeds: expected at least 2"),
    (["compare", "--alpha", "0.5"], r"alpha: expected a value in \(0, 0.5\)"),
    (["compare", "--margin", "1.5"], r"margin: expected a Dice difference in \(0, 1\)"),
])
def test_compare_errors(argv, message, capsys, tmp_path):
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 8, 8)), labels=np.zeros((0, 8, 8), int))
    (tmp_path / "text.npz").write_text("not an archive")
    _npz(tmp_path / "mask.npz", np.eye(8, dtype=int))
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxseg-losses: error:")
    assert __import__("re").search(message, err), err


@pytest.mark.parametrize("argv,message", [
    (["compare", "--loss", "dice(per_image=maybe)"],
     "option per_image: expected true or false; got 'maybe'"),
    (["compare", "--loss", "dice(per_image=1)"], "option per_image: expected true or false"),
    (["compare", "--loss", "dcie"], "unknown loss 'dcie'; did you mean .*'dice'"),
    (["compare", "--loss", "focal(gama=1)"], "did you mean 'gamma' for 'gama'"),
    (["compare", "--loss", "dice@linaer(0, 1)"], "did you mean 'linear'"),
    (["compare", "--test-fraction", "0.5"], "--test-fraction: only for user data"),
    (["compare", "--test-data", "{tmp}/mask.npz"], "--test-data: only for user data"),
    (["compare", "--data", "blobs", "--size", "16", "--n-train", "4", "--batch-size", "8"],
     r"--batch-size 8: larger than the training set \(4 examples\)"),
    (["compare", "--data", "{tmp}/trailing.npz"], r"drop the trailing axis \(labels\[\.\.\."),
    (["compare", "--data", "{tmp}/mask.npz", "--test-data", "{tmp}/background.npz"],
     "the test set has no foreground pixel"),
    (["compare", "--data", "{tmp}"], "sub-folders images/ and labels/"),
])
def test_compare_errors_before_training(argv, message, capsys, tmp_path):
    """Spec typos, user-data options and shapes; none leaves an empty --out folder."""
    _npz(tmp_path / "mask.npz", np.eye(8, dtype=int))
    _npz(tmp_path / "background.npz", np.zeros((8, 8), int))
    np.savez(tmp_path / "trailing.npz", images=np.zeros((4, 8, 8, 1)),
             labels=np.eye(8, dtype=int)[None, ..., None].repeat(4, 0))
    out = tmp_path / "new-out"
    assert main([arg.format(tmp=tmp_path) for arg in argv] + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxseg-losses: error:")
    assert __import__("re").search(message, err), err
    assert not out.exists()  # an error before training leaves no empty --out folder


def test_an_error_keeps_an_existing_out_folder(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    assert main(["compare", "--loss", "dcie", "--out", str(out)]) == 2
    assert out.is_dir()


def test_version(capsys):
    from jaxseg_losses import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == (
        f"jaxseg-losses {__version__}")


def test_bad_arguments_exit_through_argparse(capsys):
    for argv in (["--steps", "0"], ["--lr", "0"], ["--lr", "-1e-3"], ["--lr", "abc"],
                 ["--seeds", "0"], ["--seeds", "automatic"], ["--margin", "0"],
                 ["--alpha", "-0.1"], ["--time-budget", "0"], ["--replicas", "pmap"]):
        with pytest.raises(SystemExit) as info:
            main(["compare", *argv])
        assert info.value.code == 2
    with pytest.raises(SystemExit):
        main([])


def test_test_fraction_is_a_fraction(capsys):
    for value in ("0", "1", "1.5", "abc"):
        with pytest.raises(SystemExit) as info:
            main(["compare", "--test-fraction", value])
        assert info.value.code == 2
    assert "expected a number in (0, 1)" in capsys.readouterr().err


def test_list(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for word in ("dice", "gdl", "boundary", "nonadjacency", "linear(a, b[, f])", "vessels",
                 "jaxseg_losses.focal_loss(gamma=2, alpha=none, include_background=true, "
                 "class_weights=none, normalized=false, reduced_threshold=none)",
                 "average='macro', absent_classes='score'", "dice_activation=none"):
        assert word in text
    assert main(["list", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"losses", "schedules", "datasets"} <= set(payload)
    assert {row["name"] for row in payload["losses"]} >= {"ce", "dice", "lovasz"}


def test_python_dash_m_and_console_script():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("jaxseg-losses") == "jaxseg_losses.cli:main"
    done = subprocess.run([sys.executable, "-m", "jaxseg_losses", "--help"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0 and "compare" in done.stdout and "list" in done.stdout
