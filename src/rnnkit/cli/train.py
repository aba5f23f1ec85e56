"""``rnnkit train``: a character-level language model, trained with truncated BPTT.

The loop reads top to bottom: text -> vocabulary -> streams; with ``--minutes``, the plan
(the machine's speed measured on a reference model, then the sizes not given chosen for
the budget: :mod:`rnnkit.cli.plan`); model and AdamW optimizer (or the checkpoint's); then
per step: the learning rate of the schedule at the run's progress (warm-up, then a cosine
that ends when the steps or the wall-clock budget do), window, forward (carrying the
detached state), loss, backward, clip, step, log; every ``--eval-every`` steps (or tenth of
the budget) the validation bits per character on the first :data:`EVAL_CHARS` held-out
characters, a sample and an atomic checkpoint; at the end, the score on the whole held-out
split. Every loss is in bits per character; every time is wall-clock time.

Resuming is exact. The data position is a function of the step (see :mod:`rnnkit.cli.data`),
and the checkpoint holds the weights, the optimizer state, the carried hidden state and
the RNG state; evaluation draws nothing from the global generator and samples use their
own (seeded by seed and step). Ctrl-C (or SIGTERM) sets a flag that the loop checks between
steps, so the checkpoint is always that of a whole step. Each checkpoint is one atomic
commit (:mod:`rnnkit.cli.checkpoint`) made while holding the run directory's one-writer lock
(:func:`rnnkit.cli.rundir.lock`); ``--resume`` checks every file it loads against the
checkpoint's ``config.json`` before building anything.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any, Callable

import numpy as np

from rnnkit import get_rng_state, manual_seed, nn, no_grad, optim, set_rng_state
from rnnkit.cells import kernels
from rnnkit.cli import checkpoint, plots, rundir
from rnnkit.cli.charlm import CharLM, detach, generate
from rnnkit.cli.data import Vocab, batchify, num_windows, read_text, sha256, split, stdlib_corpus, window
from rnnkit.cli.options import InputError, TrainOptions
from rnnkit.cli.plan import Budget, Schedule, matrix_params, size_for_budget
from rnnkit.cli.progress import Progress, format_seconds
from rnnkit.cli.rundir import Reporter, claim_out
from rnnkit.cli.schema import charlm_parameter_count
from rnnkit.serialization import atomic_write_text

__all__ = ["run", "evaluate", "eval_streams", "scored_chars", "measure_flops", "describe",
           "read_metrics"]

ARCHITECTURE = ("cell", "layers", "hidden", "embed")  # must match the checkpoint's to resume
DATA_LAYOUT = ("text", "seq_len", "batch_size", "val_fraction")  # fixes what step k reads: cannot change on resume
LOG_EVERY = 10  # steps per metrics.csv row (the mean training loss over them)
EVAL_CHARS = 32_768  # held-out characters scored at each evaluation (the last one scores them all)
EVAL_STREAMS = 32  # parallel streams an evaluation reads the held-out text in
EVALS_PER_BUDGET = 10  # evaluations in a --minutes run without --eval-every (at most one per tenth of the budget)
EVAL_SHARE = 0.05  # ... and fewer when they would take more than this fraction of the budget
PLANNED = ("layers", "hidden", "embed", "batch_size", "dropout", "weight_decay")  # what --minutes may choose
PROBE = (1, 256, 64, 32)  # (layers, hidden, embed, batch) of the model that measures the machine's speed
RESERVED = 0.05  # fraction of a --minutes budget kept for evaluations, samples and checkpoints when sizing
SAMPLE_CHARS = 200  # characters of the sample printed at each evaluation
COMPILE_NOTICE = 2.0  # seconds of kernel warm-up above which the run says it compiled them (the first run only)
LN2 = math.log(2.0)


def run(opts: TrainOptions, given: set[str], on_step: Callable[[int], None] | None = None) -> int:
    """Train (or resume) as ``opts`` says; return the exit status.

    Args:
        opts: the parsed options.
        given: names of the options set on the command line (the others, when resuming,
            come from the checkpoint; with ``--minutes``, the unset sizes are planned).
        on_step: called with the step number after each completed step (for tests).

    Returns:
        0 when done, 1 when the loss became non-finite, 130 (SIGINT) or 143 (SIGTERM) when
        interrupted (after saving).
    """
    # -- a --text file named on the command line is checked first: its errors come before any about --out
    given_text = read_text(opts.text) if opts.text else None
    if opts.resume and opts.overwrite:
        raise InputError("--overwrite: cannot be combined with --resume (one replaces the run, the other "
                         "continues it)")
    with rundir.lock(opts.out):  # one writer per run directory, until the end
        return _train(opts, given, given_text, on_step)


def _train(opts: TrainOptions, given: set[str], given_text: str | None,
           on_step: Callable[[int], None] | None) -> int:
    report = Reporter(json=opts.json, quiet=opts.quiet)
    # -- the checkpoint in --out decides between a fresh run and a resumed one
    checkpoint.prune(opts.out)  # what a killed writer left: temporary and superseded checkpoints
    saved = (checkpoint.open_charlm(opts.out) if opts.resume else
             checkpoint.read_config(opts.out, {"charlm": checkpoint.CHARLM}))
    if opts.resume:
        if saved is None:
            raise InputError(f"--resume: {opts.out} holds no checkpoint (no {checkpoint.PREFIX}<step> directory)")
        opts = _continue(opts, given, saved)
        state = checkpoint.load_charlm_state(saved)  # checked against the config before anything is allocated
    elif saved is not None and not opts.overwrite:
        raise InputError(f"--out {opts.out} already holds {describe(saved)}; pass --resume to continue it, "
                         "--overwrite to replace it, or choose another --out")
    else:
        claim_out(opts.out, overwrite=opts.overwrite)
        while checkpoint.latest(opts.out):  # --overwrite: the old run's checkpoints go
            shutil.rmtree(checkpoint.latest(opts.out))
    budget = Budget(steps=opts.steps, seconds=None if opts.minutes is None else 60 * opts.minutes,
                    clock=lambda: time.monotonic(), spent=saved["elapsed_seconds"] if opts.resume else 0.0)

    # -- text, vocabulary, train/validation streams
    if given_text is not None:
        text, source = given_text, opts.text
    else:
        text, source = (read_text(opts.text), opts.text) if opts.text else stdlib_corpus()
    digest = sha256(text)
    if opts.resume and digest != saved["data"]["sha256"]:
        raise InputError(f"--resume: the text ({source}) differs from the one the checkpoint in {opts.out} "
                         "was trained on")
    vocab = Vocab(saved["vocab"]) if opts.resume else Vocab.from_text(text)
    if vocab.missing(text):
        raise InputError(f"--resume: the vocabulary in {saved['_unit']}/{checkpoint.CONFIG} lacks the characters "
                         f"{vocab.missing(text)!r} of the text it was trained on")
    train_ids, val_ids = split(vocab.encode(text), opts.val_fraction)
    seconds = warm_up(opts.cell)  # before the speed probe, so that it times training, not compilation
    if seconds >= COMPILE_NOTICE:
        report.notice(f"compiled rnnkit's {opts.cell.upper()} kernels in {seconds:.0f} s: the first run on this "
                      "machine only (numba caches them)")
    if opts.minutes is not None and not opts.resume and not set(PLANNED) <= given:
        opts = _plan(opts, given, budget, train_ids, len(vocab), report)
    _check_size(opts, len(vocab))
    B, T = opts.batch_size, opts.seq_len
    streams = batchify(train_ids, B)  # (B, L)
    K = num_windows(streams, T)
    if K < 1:
        raise InputError(f"the text is too short: {len(train_ids)} training characters cannot make {B} streams "
                         f"of more than --seq-len {T}; use a longer text or smaller --batch-size/--seq-len")
    if len(val_ids) < 2:
        raise InputError(f"the held-out split ({len(val_ids)} character) is too short; raise --val-fraction")
    val_streams = eval_streams(val_ids[:EVAL_CHARS], T)  # scored at every evaluation
    all_val_streams = eval_streams(val_ids, T)  # the whole held-out split, scored at the end

    # -- model, loss, optimizer and schedule
    manual_seed(opts.seed)
    model = CharLM(len(vocab), opts.cell, opts.layers, opts.hidden, opts.embed, opts.dropout)
    criterion = nn.CrossEntropyLoss()
    # one parameter group: the checkpoint's optimizer state is indexed in the model's parameter order
    optimizer = optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = Schedule(opts.lr, opts.warmup, opts.decay)
    step, carry, metrics = 0, None, []
    if opts.resume:
        carry = _restore(saved, state, model, optimizer)
        step = saved["step"]
        metrics = _read_metrics(checkpoint.read_file(saved, checkpoint.METRICS), step)
    committed = step if opts.resume else None  # the step of the last checkpoint

    def save(val_bpc: float | None) -> None:
        nonlocal committed
        if committed == step:
            return
        config = {
            "kind": "charlm", "model": model.config.to_json(), "vocab": vocab.chars,
            "data": {"source": source, "sha256": digest, "chars": len(text), "train_chars": len(train_ids),
                     "val_chars": len(val_ids)},
            "train": dataclasses.asdict(opts), "step": step, "elapsed_seconds": budget.elapsed(),
            "val_bpc": val_bpc, "rng_state": get_rng_state(),
        }
        table = _metrics_csv(metrics)
        checkpoint.save_charlm(opts.out, model, optimizer, carry, config, table)
        committed = step
        atomic_write_text(os.path.join(opts.out, checkpoint.METRICS), table)  # a copy for people
        if not plots.loss_curves(os.path.join(opts.out, "loss.png"), *_curves(metrics),
                                 title=f"{opts.cell.upper()} {opts.layers}x{opts.hidden} on {len(text):,} characters"):
            report.notice(plots.MISSING)

    def validate(streams_: np.ndarray) -> float:
        """Score ``streams_``, log, print a sample; learn how long the final evaluation will take."""
        tic = budget.elapsed()
        val_bpc = evaluate(model, criterion, streams_, T)
        seconds = budget.elapsed() - tic
        n = scored_chars(streams_)
        budget.reserve = seconds * scored_chars(all_val_streams) / n  # the final, whole-split evaluation
        _log(metrics, step, val_bpc=val_bpc, val_chars=n, lr=lr, tokens_per_s=tokens_per_s,
             wall=budget.elapsed())
        rng = np.random.default_rng([opts.seed, step])  # its own generator: training's RNG stays untouched
        sample = "".join(generate(model, vocab.chars, "", SAMPLE_CHARS, temperature=0.8, rng=rng))
        say(f"step {step}: validation {val_bpc:.3f} bits/char on {n:,} held-out characters\n"
            f"--- sample ---\n{sample}\n--------------", step=step, val_bpc=val_bpc, val_chars=n,
            sample=sample)
        return val_bpc

    # -- the loop
    total = opts.steps
    if step > 0 and budget.done(step):
        what = f"--steps {total}" if total is not None else f"--minutes {opts.minutes}"
        report.result(f"{opts.out} is already at step {step} ({what}): nothing to do", step=step, out=opts.out)
        return 0
    params = sum(p.numel() for p in model.parameters())
    bar = Progress(total, initial=step, every=LOG_EVERY) if not (opts.json or opts.quiet) else None

    def say(message: str, **fields: Any) -> None:
        if bar is not None:
            bar.write(message)
        else:
            report.progress(message, **fields)

    say(f"training a {opts.layers}-layer {opts.cell.upper()} (hidden {opts.hidden}, embed {opts.embed}, "
        f"{params:,} parameters; batch {B} x {T} characters, dropout {opts.dropout}, weight decay "
        f"{opts.weight_decay}) on {source}: {len(train_ids):,} train / {len(val_ids):,} held-out characters, "
        f"vocabulary {len(vocab)}", params=params, options=dataclasses.asdict(opts))
    last_saved, running, tokens_per_s, val_bpc = step, [], 0.0, None
    lr = schedule.lr_at(budget.progress(step))
    every = opts.eval_every or (None if opts.minutes is not None else 100)
    eval_seconds = 0.0  # what the last evaluation, sample and checkpoint took

    def checkpoint_now(streams_: np.ndarray) -> float:
        nonlocal eval_seconds
        tic = budget.elapsed()
        val_bpc = validate(streams_)
        save(val_bpc)
        eval_seconds = budget.elapsed() - tic
        return val_bpc

    def next_eval() -> float:
        """The progress of a --minutes run at which to evaluate next (a tenth of the budget, or more)."""
        gap = max(1 / EVALS_PER_BUDGET, eval_seconds / (EVAL_SHARE * budget.seconds)) if budget.seconds else 1.0
        return budget.progress(step) + gap

    with contextlib.ExitStack() as stack, _stop_on_sigint() as stop:
        if bar is not None:
            stack.enter_context(bar)
        if step == 0:
            val_bpc = checkpoint_now(val_streams)
        next_mark = next_eval()
        loop_start, first_step = time.perf_counter(), step
        while not budget.done(step) or step == 0:  # a fresh run takes one step even if set-up used the budget
            tic = time.perf_counter()
            lr = schedule.lr_at(budget.progress(step + 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            k = step % K
            if k == 0:
                carry = None  # a new pass over the streams starts from a zero state
            x, y = window(streams, k, T)  # (B, T), (B, T)
            model.train()
            logits, carry = model(x, carry)  # (B, T, V)
            loss = criterion(logits.reshape(-1, len(vocab)), y.reshape(-1))
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                return _diverged(step + 1, f"the loss is {loss_value}", opts.out, last_saved)
            optimizer.zero_grad()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), opts.clip) if opts.clip > 0 else 0.0
            if not math.isfinite(float(norm)):
                return _diverged(step + 1, f"the gradient norm is {float(norm)}", opts.out, last_saved)
            optimizer.step()
            carry = detach(carry)  # truncated BPTT: the state goes on, its graph does not
            step += 1

            dt = time.perf_counter() - tic
            tokens_per_s = 0.9 * tokens_per_s + 0.1 * (B * T / dt) if tokens_per_s else B * T / dt
            running.append(loss_value / LN2)  # bits per character
            if bar is not None:
                progress = max(budget.progress(step), 1e-9)
                if opts.minutes is None:  # a --steps run: from this session's steps (not set-up or compilation)
                    left = (time.perf_counter() - loop_start) / (step - first_step) * (total - step)
                else:
                    left = budget.elapsed() * (1 - progress) / progress + budget.reserve
                bar.update(step, {"train": f"{loss_value / LN2:.3f} bits/char", "lr": f"{lr:.2g}",
                                  "tok/s": f"{tokens_per_s:,.0f}", "left": format_seconds(left)})
            if step % LOG_EVERY == 0:
                train_bpc = float(np.mean(running))
                _log(metrics, step, train_bpc=train_bpc, lr=lr, tokens_per_s=tokens_per_s, wall=budget.elapsed())
                if bar is None:
                    report.progress(f"step {step}: train {train_bpc:.3f} bits/char, lr {lr:.3g}, "
                                    f"{tokens_per_s:,.0f} characters/s", step=step, train_bpc=train_bpc, lr=lr,
                                    tokens_per_s=tokens_per_s, wall_seconds=budget.elapsed())
                running = []
            if on_step is not None:
                on_step(step)
            due = step % every == 0 if every is not None else budget.progress(step) >= next_mark
            if due and not budget.done(step):
                val_bpc = checkpoint_now(val_streams)
                next_mark = next_eval()
                last_saved = step
            if stop.requested:
                save(val_bpc)
                say(f"interrupted: saved step {step} to {opts.out}; continue with "
                    f"rnnkit train --out {opts.out} --resume")
                return 128 + stop.requested
        val_bpc = validate(all_val_streams)  # the final score: the whole held-out split
        save(val_bpc)
    first = next((r["val_bpc"] for r in metrics if r["val_bpc"] is not None), val_bpc)
    wall = budget.elapsed()
    report.result(f"done: {step} steps in {format_seconds(wall)} (wall clock); validation {val_bpc:.3f} bits/char "
                  f"on the whole held-out split ({scored_chars(all_val_streams):,} characters predicted; from "
                  f"{first:.3f}); checkpoint in "
                  f"{opts.out}\ntry: rnnkit sample {opts.out}", steps=step, wall_seconds=wall, val_bpc=val_bpc,
                  val_chars=scored_chars(all_val_streams), first_val_bpc=first, params=params, out=opts.out)
    return 0


def eval_streams(ids: np.ndarray, seq_len: int) -> np.ndarray:
    """Held-out ids (N,) as up to :data:`EVAL_STREAMS` streams (B, L) that :func:`evaluate` reads with carried state."""
    return batchify(ids, max(1, min(EVAL_STREAMS, (len(ids) - 1) // seq_len)))


def scored_chars(streams: np.ndarray) -> int:
    """How many characters :func:`evaluate` predicts in ``streams`` (B, L): all but each stream's first."""
    return streams.shape[0] * (streams.shape[1] - 1)


def warm_up(cell: str) -> float:
    """Seconds to run a tiny model of ``cell`` forward and backward once, and forward for
    validation and for sampling, through every compiled variant a training run uses (weights
    packed into panels, the threaded loops and products at the setting's thread count): their
    compilation on a machine's first run (numba then caches them), about a second after."""
    tic = time.perf_counter()
    setting = kernels.current()
    model = CharLM(32, cell, 2, 64, 8)  # H and 4H several panels of 32 columns, as in real models
    model.eval()  # no dropout; gradients still flow
    # the large-size paths at a tiny size: every threshold at 0, weights packed from the first step
    with kernels.use(setting.name, threads=setting.threads, parallel_flops=0, product_flops=0,
                     blas_threads=setting.blas_threads, blas_rows=setting.blas_rows, pack_steps=1):
        logits, _ = model(np.zeros((4, 4), np.int64), None)  # (4, 4, 32): enough rows for the threaded products
        logits.sum().backward()
        optim.Adam(model.parameters()).step()  # the compiled update of every parameter
        with no_grad():
            model(np.zeros((4, 4), np.int64), None)  # validation's fused inference
    with no_grad():
        model(np.zeros((1, 1), np.int64), None)  # sampling: one step of one stream
    return time.perf_counter() - tic


def measure_flops(vocab_size: int, train_ids: np.ndarray, seq_len: int) -> float:
    """The machine's training speed in FLOP/s: three steps of a reference model on the text, the last two timed.

    A reference LSTM (:data:`PROBE`) runs forward, backward and an Adam step on real
    windows; the speed is ``6 * P * B * T / seconds`` (see :mod:`rnnkit.cli.plan`).
    """
    layers, hidden, embed, batch = PROBE
    model = CharLM(vocab_size, "lstm", layers, hidden, embed)
    optimizer, criterion = optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    streams = batchify(train_ids, batch)  # (B, L)
    k_max, carry, seconds = max(1, num_windows(streams, seq_len)), None, 0.0
    for k in range(3):
        tic = time.perf_counter()
        x, y = window(streams, k % k_max, seq_len)  # (B, T)
        logits, carry = model(x, carry)  # (B, T, V)
        loss = criterion(logits.reshape(-1, vocab_size), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        carry = detach(carry)
        seconds += (time.perf_counter() - tic) if k else 0.0
    return 6 * matrix_params(layers, hidden, embed, vocab_size) * 2 * x.size / seconds


def _plan(opts: TrainOptions, given: set[str], budget: Budget, train_ids: np.ndarray, vocab_size: int,
          report: Reporter) -> TrainOptions:
    """Fill the sizes not given on the command line from :func:`rnnkit.cli.plan.size_for_budget`."""
    flops = measure_flops(vocab_size, train_ids, opts.seq_len)
    seconds = budget.seconds - budget.elapsed()
    plan = size_for_budget(seconds * (1 - RESERVED), flops, len(train_ids), vocab_size, opts.seq_len, opts.cell)
    chosen = {name: getattr(plan, name) for name in PLANNED if name not in given}
    if len(train_ids) // chosen.get("batch_size", opts.batch_size) <= opts.seq_len:  # a short text: fewer streams
        chosen["batch_size"] = max(1, min(chosen.get("batch_size", opts.batch_size),
                                          (len(train_ids) - 1) // (opts.seq_len + 1)))
    report.progress(f"plan for {opts.minutes:g} minutes: the machine trains at {flops / 1e9:.1f} GFLOP/s, so "
                    f"~{plan.chars / 1e6:.1f}M characters (~{plan.passes:.1f} passes over the text); chosen: "
                    + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in chosen.items()),
                    flops_per_second=flops, planned_chars=plan.chars, passes=plan.passes, chosen=chosen)
    return dataclasses.replace(opts, **chosen)


def evaluate(model: CharLM, criterion: Any, streams: np.ndarray, seq_len: int) -> float:
    """Bits per character of the model on ``streams`` (B, L), read in windows with the state carried."""
    model.eval()
    total, count, state = 0.0, 0, None
    with no_grad():
        for start in range(0, streams.shape[1] - 1, seq_len):
            y = streams[:, start + 1 : start + seq_len + 1]  # (B, T')
            x = streams[:, start : start + y.shape[1]]  # (B, T')
            logits, state = model(x, state)  # (B, T', V)
            total += criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item() * y.size
            count += y.size
    model.train()
    return total / count / LN2


def describe(config: dict) -> str:
    """A short description of the model in a checkpoint's config."""
    if config.get("kind") == "charlm":
        m = config["model"]
        return (f"a {m['layers']}-layer {m['cell'].upper()} character model (hidden {m['hidden']}, "
                f"embed {m['embed']}) at step {config.get('step')}")
    return f"a {config.get('kind', 'unknown')} model"


def _continue(opts: TrainOptions, given: set[str], saved: dict) -> TrainOptions:
    """The options of a resumed run: the checkpoint's, except those given; check they can continue."""
    if saved.get("kind") != "charlm":
        raise InputError(f"--resume: {opts.out} holds {describe(saved)}, not a character model")
    previous = {k: v for k, v in saved["train"].items() if k in {f.name for f in dataclasses.fields(TrainOptions)}}
    for name in ARCHITECTURE:
        if previous.get(name, saved["model"][name]) != saved["model"][name]:
            raise InputError(f"{saved['_unit']}/{checkpoint.CONFIG}: train.{name} ({previous[name]}) and model.{name} "
                             f"({saved['model'][name]}) disagree")
    for name in ARCHITECTURE:
        if name in given and getattr(opts, name) != saved["model"][name]:
            raise InputError(f"--resume: the checkpoint in {opts.out} is {describe(saved)}; --{name} "
                             f"{getattr(opts, name)} asks for another architecture")
    for name in DATA_LAYOUT[1:]:
        if name in given and getattr(opts, name) != previous.get(name):
            raise InputError(f"--resume: --{name.replace('_', '-')} cannot change when resuming "
                             f"(the checkpoint used {previous.get(name)})")
    keep = {k: v for k, v in previous.items()
            if k not in given and k not in ("resume", "out", "overwrite", "json", "quiet")}
    keep.update({name: saved["model"][name] for name in ARCHITECTURE})
    if "minutes" in given:
        keep.pop("steps", None)
    elif "steps" in given:
        keep.pop("minutes", None)
    return dataclasses.replace(opts, **keep)


def _diverged(step: int, what: str, out: str, last_saved: int) -> int:
    print(f"rnnkit train: error: step {step}: {what}; stopped. The last good checkpoint (step {last_saved}) "
          f"is in {out}; try a lower --lr or a smaller --clip", file=sys.stderr)
    return 1


@contextlib.contextmanager
def _stop_on_sigint():
    """While active, Ctrl-C or SIGTERM sets ``.requested`` to the signal number (checked between steps);
    a second one interrupts at once."""
    flag = type("Stop", (), {"requested": 0})()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = int(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_size(opts: TrainOptions, vocab_size: int) -> None:
    """Refuse a model whose weights, gradients and Adam moments would not fit in this machine's memory."""
    count = charlm_parameter_count({"vocab_size": vocab_size, "cell": opts.cell, "layers": opts.layers,
                                    "hidden": opts.hidden, "embed": opts.embed})
    need = count * 4 * 4  # float32 weights, gradients and two Adam moments
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: bound by what float32 indexing allows
        have = 1 << 40
    if need > have:
        raise InputError(f"--hidden {opts.hidden}, --embed {opts.embed}, --layers {opts.layers}: the model would "
                         f"have {count:,} parameters, needing {need / 2**30:,.1f} GiB for weights, gradients and "
                         f"Adam's moments; this machine has {have / 2**30:,.1f} GiB")


def _restore(saved: dict, state: tuple, model: CharLM, optimizer: Any) -> Any:
    """Load the checked training ``state`` of ``saved``'s checkpoint into the model, optimizer and RNG; the carry."""
    weights, optimizer_state, carry = state
    where = f"{saved['_unit']}/{checkpoint.TRAINING_STATE}"
    try:
        optimizer.load_state_dict(optimizer_state)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise InputError(f"{where}: its optimizer state does not fit the model ({error})") from None
    model.load_state_dict(weights)
    try:
        set_rng_state(saved["rng_state"])
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise InputError(f"{saved['_unit']}/{checkpoint.CONFIG}: rng_state: not a state of this generator "
                         f"({error})") from None
    return carry


# -- metrics.csv ------------------------------------------------------------------------------
_FIELDS = ("step", "train_bpc", "val_bpc", "val_chars", "lr", "tokens_per_s", "wall_seconds")


def _log(rows: list[dict], step: int, train_bpc: float | None = None, val_bpc: float | None = None,
         val_chars: int | None = None, lr: float = 0.0, tokens_per_s: float = 0.0, wall: float = 0.0) -> None:
    """Add the values of ``step`` to its row of ``rows`` (a new row for a new step); losses in bits/char."""
    if not rows or rows[-1]["step"] != step:
        rows.append(dict.fromkeys(_FIELDS) | {"step": step})
    row = rows[-1]
    if train_bpc is not None:
        row["train_bpc"] = train_bpc
    if val_bpc is not None:
        row["val_bpc"], row["val_chars"] = val_bpc, val_chars
    row["lr"], row["tokens_per_s"], row["wall_seconds"] = lr, tokens_per_s, wall


def _metrics_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else (row[k] if k in ("step", "val_chars") else f"{row[k]:.6g}")
                         for k in _FIELDS})
    return buffer.getvalue()


def _read_metrics(path: str, step: int) -> list[dict]:
    """The rows of a checkpoint's ``metrics.csv`` (steps ascending, up to ``step``); InputError naming the line."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if tuple(reader.fieldnames or ()) != _FIELDS:
            raise InputError(f"{path}: expected the columns {', '.join(_FIELDS)}, got {reader.fieldnames}")
        rows = []
        for row in reader:
            try:
                if None in row or None in row.values():
                    raise ValueError("a row of another length")
                parsed = {k: (int(v) if k in ("step", "val_chars") and v else float(v) if v else None)
                          for k, v in row.items()}
                if not all(v is None or math.isfinite(v) for v in parsed.values()):
                    raise ValueError("a non-finite number")
                if parsed["step"] < 0 or (rows and parsed["step"] <= rows[-1]["step"]) or parsed["step"] > step:
                    raise ValueError(f"step {parsed['step']} out of order (the checkpoint is at step {step})")
            except ValueError as error:
                raise InputError(f"{path}: line {reader.line_num}: {error}") from None
            rows.append(parsed)
    return rows


def read_metrics(out: str) -> list[dict]:
    """The rows of the metrics.csv of ``out``'s latest checkpoint (empty when there is none)."""
    config = checkpoint.read_config(out, {"charlm": checkpoint.CHARLM})
    if config is None or config.get("kind") != "charlm":
        return []
    return _read_metrics(checkpoint.read_file(config, checkpoint.METRICS), config["step"])


def _curves(rows: list[dict]) -> tuple[tuple[list, list], tuple[list, list]]:
    train = [(r["step"], r["train_bpc"]) for r in rows if r["train_bpc"] is not None]
    val = [(r["step"], r["val_bpc"]) for r in rows if r["val_bpc"] is not None]
    return tuple(map(list, zip(*train))) or ([], []), tuple(map(list, zip(*val))) or ([], [])
