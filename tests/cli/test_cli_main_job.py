"""The main job's conventions: the planned schedule, --overwrite, --json, --version, eval, inspect, sampling."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import os

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import checkpoint, main, plots
from rnnkit.cli.charlm import CharLM, pick
from rnnkit.cli.data import prose, split, stdlib_corpus
from rnnkit.cli.options import COMMANDS
from rnnkit.cli.plan import FINAL_RATIO, LADDER, MIN_UPDATES, Budget, Schedule, matrix_params, size_for_budget
from rnnkit.cli.train import EVAL_STREAMS

WORDS = "the cat sat on a mat while rain fell softly over quiet hills and small rivers ran to the sea".split()
# every size --minutes could plan is given, so no speed probe runs and the test is the same on any machine
SIZES = ["--layers", "1", "--hidden", "32", "--embed", "8", "--seq-len", "16", "--batch-size", "8",
         "--dropout", "0", "--weight-decay", "0"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    lines = [" ".join(rng.choice(WORDS, size=rng.integers(5, 12))) + "." for _ in range(200)]
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def run_dir(text_file, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "charlm")
    assert main(["train", "--text", text_file, *SIZES, "--steps", "30", "--eval-every", "15", "--out", out,
                 "--quiet"]) == 0
    return out


def metrics(out):
    with open(os.path.join(out, "metrics.csv"), newline="") as file:
        return list(csv.DictReader(file))


# -- the schedule ------------------------------------------------------------------------------
def test_schedule_warms_up_then_decays_to_its_end_value():
    s = Schedule(lr=2e-3, warmup=0.1)
    assert s.lr_at(0.05) == pytest.approx(1e-3) and s.lr_at(0.1) == pytest.approx(2e-3)
    values = [s.lr_at(p) for p in np.linspace(0.1, 1.0, 50)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # decays monotonically after the warm-up
    assert s.lr_at(1.0) == pytest.approx(2e-3 * FINAL_RATIO) and s.lr_at(7.0) == s.lr_at(1.0)
    assert Schedule(lr=2e-3, warmup=0.0, decay="constant").lr_at(0.9) == 2e-3


def test_budget_of_seconds_ends_at_the_budget_less_the_reserve():
    now = [100.0]
    budget = Budget(seconds=60.0, clock=lambda: now[0], spent=15.0)  # resumed: 15 s already spent
    assert budget.elapsed() == 15.0 and budget.progress(0) == pytest.approx(0.25)
    budget.reserve = 5.0
    now[0] += 39.9
    assert not budget.done(0)
    now[0] += 0.2
    assert budget.done(0) and budget.elapsed() == pytest.approx(55.1)
    with pytest.raises(ValueError, match="exactly one of steps and seconds"):
        Budget(steps=3, seconds=1.0)


def test_minutes_run_ends_with_its_schedule_at_the_budget(text_file, tmp_path, monkeypatch):
    """A fake clock: one second per training step, 0.1 s per evaluation window; a budget of 60 s."""
    import rnnkit.cli.train as train_module

    now = [0.0]
    monkeypatch.setattr(train_module.time, "monotonic", lambda: now[0])
    forward = CharLM.forward

    def timed(self, ids, state=None):
        now[0] += 1.0 if self.training else 0.1 if np.shape(ids)[1] > 1 else 0.0
        return forward(self, ids, state)

    monkeypatch.setattr(CharLM, "forward", timed)
    out = str(tmp_path / "run")
    assert main(["train", "--text", text_file, *SIZES, "--minutes", "1", "--lr", "0.004", "--out", out,
                 "--quiet"]) == 0
    config = json.load(open(os.path.join(checkpoint.latest(out), "config.json")))
    rows = metrics(out)
    assert 50 <= config["step"] <= 60  # about one step per second, less the evaluations
    assert 59.0 <= config["elapsed_seconds"] <= 61.5  # the wall clock (fake) stops with the budget
    last_lr = float(rows[-1]["lr"])
    assert last_lr == pytest.approx(0.004 * FINAL_RATIO, rel=0.02)  # the decay ended with the budget
    peak = max(float(r["lr"]) for r in rows if r["lr"])
    assert peak == pytest.approx(0.004, rel=0.05)
    n_val = config["data"]["val_chars"]  # the final score is on the whole held-out split (less <= 2 per stream)
    assert n_val - 2 * EVAL_STREAMS < int(rows[-1]["val_chars"]) < n_val


def test_minutes_run_evaluates_less_often_when_evaluations_are_costly(text_file, tmp_path, monkeypatch):
    """Fake clock: 1 s per training step, 2 s per evaluation window: 10 evaluations would eat a third of 60 s."""
    import rnnkit.cli.train as train_module

    now = [0.0]
    monkeypatch.setattr(train_module.time, "monotonic", lambda: now[0])
    forward = CharLM.forward

    def timed(self, ids, state=None):
        now[0] += 1.0 if self.training else 2.0 if np.shape(ids)[1] > 1 else 0.0
        return forward(self, ids, state)

    monkeypatch.setattr(CharLM, "forward", timed)
    out = str(tmp_path / "run")
    assert main(["train", "--text", text_file, *SIZES, "--minutes", "1", "--out", out, "--quiet"]) == 0
    evaluated = [int(r["step"]) for r in metrics(out) if r["val_bpc"]]
    periodic = evaluated[1:-1]  # neither step 0 nor the final score
    assert 1 <= len(periodic) <= 2  # a gap of 2 s / (5% of 60 s) = 2/3 of the budget, not a tenth
    assert 45 <= evaluated[-1] <= 56


def test_steps_run_decays_to_the_end_value_at_its_last_step(run_dir):
    rows = metrics(run_dir)
    assert rows[-1]["step"] == "30"
    assert float(rows[-1]["lr"]) == pytest.approx(3e-3 * FINAL_RATIO)
    assert set(rows[0]) == {"step", "train_bpc", "val_bpc", "val_chars", "lr", "tokens_per_s", "wall_seconds"}


# -- the plan ----------------------------------------------------------------------------------
def test_plan_grows_the_model_with_the_budget_and_follows_its_rule():
    plans = [size_for_budget(s, 2e10, 1_000_000, 65) for s in (10, 60, 600, 3600, 36000)]
    params = [p.params for p in plans]
    assert params == sorted(params) and params[0] < params[-1]
    for seconds, plan in zip((10, 60, 600, 3600, 36000), plans):
        assert plan.chars == pytest.approx(2e10 * seconds / (6 * plan.params))
        bigger = [matrix_params(*rung, 65) for rung in LADDER if matrix_params(*rung, 65) > plan.params]
        if plan.params != matrix_params(*LADDER[0], 65):
            assert plan.chars >= min(20 * plan.params, 10 * 1_000_000)  # the chosen one fits the rule ...
        if bigger:
            assert 2e10 * seconds / (6 * bigger[0]) < min(20 * bigger[0], 10 * 1_000_000)  # ... the next does not
        assert plan.batch_size in (16, 32, 64, 128)
        if plan.batch_size > 16:
            assert plan.chars / (plan.batch_size * 64) >= MIN_UPDATES
        assert plan.dropout == (0.0 if plan.passes <= 1 else 0.1 if plan.passes <= 4 else 0.2)


def test_minutes_plans_the_sizes_not_given_and_keeps_the_given(text_file, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--text", text_file, "--minutes", "0.02", "--hidden", "24", "--seq-len", "16",
                 "--out", out, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    plan = next(e for e in events if e["message"].startswith("plan for"))
    assert plan["flops_per_second"] > 0 and "hidden" not in plan["chosen"]
    assert set(plan["chosen"]) == {"layers", "embed", "batch_size", "dropout", "weight_decay"}
    train = json.load(open(os.path.join(checkpoint.latest(out), "config.json")))["train"]
    assert train["hidden"] == 24 and all(train[k] == v for k, v in plan["chosen"].items())


# -- --overwrite and the refusal, the same for every command that writes a run directory --------
def _argv(command, text_file, series_file):
    """A quick, valid invocation of ``command`` (without --out)."""
    quick = {"train": ["train", "--text", text_file, *SIZES, "--steps", "2"],
             "forecast": ["forecast", series_file, "--column", "value", "--epochs", "1", "--window", "4"],
             "lab": ["lab", "adding", "--seq-len", "6", "--steps", "2", "--cells", "rnn"]}
    if command not in quick:
        pytest.skip(f"no quick invocation of `rnnkit {command}` here yet: add one to _argv")
    return quick[command]


WRITERS = [c for c, cls in COMMANDS.items()  # the commands with an --out DIR (not an output file) and --overwrite
           if "overwrite" in cls.__dataclass_fields__ and "out" in cls.__dataclass_fields__
           and not cls.__dataclass_fields__["out"].metadata["positional"]]


@pytest.mark.parametrize("command", WRITERS)
def test_out_with_files_is_refused_unless_overwrite(command, text_file, tmp_path, capsys):
    series = tmp_path / "series.csv"
    series.write_text("t,value\n" + "".join(f"{i},{np.sin(i / 3):.4f}\n" for i in range(80)), encoding="utf-8")
    argv = _argv(command, text_file, str(series))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --overwrite" in err and f"--out {out}" in err
    assert main([*argv, "--out", str(out), "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"  # only the command's own files are replaced
    assert main([*argv, "--out", str(out)]) == 2  # now holds a run: refused again ...
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--out", str(out), "--overwrite"]) == 0  # ... and replaced again


def test_train_overwrite_starts_afresh_and_cannot_be_combined_with_resume(run_dir, text_file, tmp_path, capsys):
    out = str(tmp_path / "again")
    assert main(["train", "--text", text_file, *SIZES, "--steps", "12", "--out", out, "--quiet"]) == 0
    assert main(["train", "--text", text_file, *SIZES, "--steps", "4", "--out", out, "--overwrite", "--quiet"]) == 0
    assert json.load(open(os.path.join(checkpoint.latest(out), "config.json")))["step"] == 4
    assert [r["step"] for r in metrics(out)][-1] == "4" and max(int(r["step"]) for r in metrics(out)) == 4
    assert main(["train", "--out", out, "--resume", "--overwrite"]) == 2
    assert "cannot be combined with --resume" in capsys.readouterr().err


# -- --json, --quiet, --version, wall time, the matplotlib notice --------------------------------
def test_train_json_lines_parse_and_end_with_the_result(text_file, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--text", text_file, *SIZES, "--steps", "20", "--eval-every", "10", "--out", out,
                 "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["event"] for e in events[:-1]} == {"progress"} and events[-1]["event"] == "result"
    result = events[-1]
    assert result["steps"] == 20 and result["val_bpc"] > 0 and result["wall_seconds"] > 0
    assert result["val_bpc"] == pytest.approx(json.load(open(os.path.join(checkpoint.latest(out), "config.json")))["val_bpc"])
    assert [e["step"] for e in events if "val_bpc" in e and e["event"] == "progress"] == [0, 10, 20]
    assert all(e["train_bpc"] > 0 for e in events if "train_bpc" in e)


def test_quiet_prints_only_the_result(text_file, tmp_path, capsys):
    assert main(["train", "--text", text_file, *SIZES, "--steps", "3", "--out", str(tmp_path / "q"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("done: 3 steps in ") and "(wall clock)" in out and out.count("\n") == 2


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"rnnkit {rnnkit.__version__}\n"


def test_missing_matplotlib_is_reported_once(text_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plots, "_pyplot", lambda: None)
    assert main(["train", "--text", text_file, *SIZES, "--steps", "6", "--eval-every", "2",
                 "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert capsys.readouterr().err.count(plots.MISSING) == 1


def test_the_first_runs_compilation_is_reported_once(text_file, tmp_path, monkeypatch, capsys):
    """The warm-up says when it compiled the kernels (a slow warm-up), and nothing on a cached run."""
    from rnnkit.cli import train

    assert train.warm_up("gru") >= 0.0  # runs a tiny model forward and backward
    monkeypatch.setattr(train, "warm_up", lambda cell: 7.0)  # as the first run on a machine
    assert main(["train", "--text", text_file, *SIZES, "--steps", "2", "--out", str(tmp_path / "c"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("compiled rnnkit's LSTM kernels in 7 s: the first run on this machine only") == 1
    monkeypatch.setattr(train, "warm_up", lambda cell: 0.4)  # cached
    assert main(["train", "--text", text_file, *SIZES, "--steps", "2", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    assert "compiled" not in capsys.readouterr().err


# -- eval, inspect, sample ---------------------------------------------------------------------
def test_eval_of_the_held_out_text_is_the_runs_final_score(run_dir, tmp_path, capsys):
    config = json.load(open(os.path.join(checkpoint.latest(run_dir), "config.json")))
    text = open(config["data"]["source"], encoding="utf-8").read()
    _, held_out = split(np.arange(len(text)), config["train"]["val_fraction"])
    path = tmp_path / "held_out.txt"
    path.write_text(text[held_out[0]:], encoding="utf-8")
    assert main(["eval", run_dir, "--text", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bits_per_char"] == pytest.approx(config["val_bpc"], abs=1e-9)
    (tmp_path / "odd.txt").write_text("the cat ZQ", encoding="utf-8")
    assert main(["eval", run_dir, "--text", str(tmp_path / "odd.txt")]) == 2
    assert "'QZ' are not in the model's vocabulary" in capsys.readouterr().err
    assert main(["eval", run_dir]) == 2
    assert "--text is required" in capsys.readouterr().err


def test_inspect_summarises_the_loss_curve_and_samples(run_dir, capsys):
    assert main(["inspect", run_dir, "--sample", "40", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "loss curve: validation" in out and "-> best" in out and "of wall time" in out
    sample = out.split("sample (temperature 0.8, seed 1):\n", 1)[1]
    assert len(sample) == 40 + 1
    assert main(["inspect", run_dir, "--sample", "0"]) == 0
    assert "sample (" not in capsys.readouterr().out


def test_temperature_zero_is_greedy_and_ignores_the_seed(run_dir, capsys):
    outputs = []
    for seed in ("1", "2"):
        assert main(["sample", run_dir, "--prompt", "the ", "--length", "30", "--temperature", "0",
                     "--seed", seed]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0]) == 4 + 30 + 1


def test_pick_top_p_keeps_the_nucleus_only():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    rng = np.random.default_rng(0)
    draws = {pick(logits, 1.0, 0, rng, top_p=0.7) for _ in range(300)}
    assert draws == {0, 1}  # 0.5 < 0.7 <= 0.5 + 0.3: the two most likely
    assert {pick(logits, 1.0, 0, rng, top_p=0.2) for _ in range(50)} == {0}
    assert {pick(logits, 1.0, 0, rng) for _ in range(400)} == {0, 1, 2, 3}
    assert pick(logits, 0.0, 0, rng) == 0


# -- the default corpus ------------------------------------------------------------------------
def test_prose_drops_code_doctests_tables_and_markup():
    doc = ("Return the frobnicated value of the given input.\n\n"
           ">>> frob(2)\n4\n\n"
           "Args:\n    x: the input, any integer at all.\n\n"
           "Example::\n\n    y = frob(x) + 1\n\n"
           "The *result* is always even, and it is cached for later calls.\n\n"
           "See also self.__dict__ and {'a': 1}, which are not prose at all.")
    assert prose(doc) == ["Return the frobnicated value of the given input.",
                          "The result is always even, and it is cached for later calls."]


def test_default_corpus_is_prose():
    text, source = stdlib_corpus()
    assert "standard library" in source and len(text) > 100_000
    assert ">>>" not in text and "__" not in text
    assert not any(line[:1].isspace() for line in text.splitlines())
    assert len(set(text)) <= 80


def test_plan_counts_the_parameters_of_the_cell_it_plans_for():
    assert matrix_params(1, 10, 5, 7, "lstm") == 4 * 10 * 15 + 70
    assert matrix_params(2, 10, 5, 7, "gru") == 3 * 10 * 15 + 3 * 10 * 20 + 70
    lstm, rnn = (size_for_budget(600, 2e10, 1_000_000, 65, cell=c) for c in ("lstm", "rnn"))
    assert rnn.params == matrix_params(rnn.layers, rnn.hidden, rnn.embed, 65, "rnn")
    assert (rnn.layers, rnn.hidden) > (lstm.layers, lstm.hidden)  # a cheaper cell gets a bigger rung


def test_bench_json_lines_parse_and_end_with_the_result(monkeypatch, capsys):
    """``bench --json``: one JSON object per line, a row per layer case, the summary last."""
    spec = importlib.util.spec_from_file_location("bench_under_test", rnnkit.cli.BENCH_SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "PEAK_N", 64)  # the 4096^2 GEMM probe is not what is tested
    assert bench.main(["--quick", "--size", "1,8,8", "--size", "2,8,16", "--cell", "gru",
                       "--reps", "5", "--no-memory", "--no-stream", "--no-charlm", "--threads", "1", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["event"] for e in events[:-1]} == {"progress"} and events[-1]["event"] == "result"
    assert events[1]["threads"] == 1 and events[1]["gemm_peak_gflops"] > 0 and events[1]["loop_threads"] >= 1
    cases = [e["case"] for e in events if "case" in e]
    assert [(c["cell"], tuple(c["size"]), c["mode"]) for c in cases] == [
        ("gru", size, mode) for size in ((1, 8, 8), (2, 8, 16)) for mode in ("infer", "train")]
    assert all(c["ratio"] == pytest.approx(c["torch_s"] / c["rnnkit_s"]) for c in cases)
    assert all(c["threads"] == 1 and c["target"] == 1.5 and c["max_diff"] < 1e-5 for c in cases)  # B <= 16: 1.5
    assert events[-1]["cases"] == 4 and events[-1]["cases_met"] == sum(c["ratio"] >= 1.5 for c in cases)


def test_bench_targets_follow_the_speed_issue():
    """1.0 at every size, 1.5 where B <= 16 and for the char-model step, 2.0 streaming, 0.67 pure NumPy."""
    spec = importlib.util.spec_from_file_location("bench_targets", rnnkit.cli.BENCH_SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules[spec.name]
    numba, numpy = "numba 0.68 fused kernels", "numpy (pure-NumPy cells)"
    assert [bench.target("layer", size, numba) for size in bench.SIZES] == [1.5, 1.5, 1.0, 1.0]
    assert bench.target("charlm", (32, 64, 192), numba) == 1.5 and bench.target("stream", bench.STREAM, numba) == 2.0
    assert bench.target("layer", (128, 512, 1024), numpy) == pytest.approx(1 / 1.5)
