"""What a training job tells its user while it runs: the log's line per period of each pack (its
seed(s) and every β's metrics) and, on the console (stderr, which Snakemake shows), a progress line
at most every ``PROGRESS_SECONDS``: the job, the seed(s) and β it is training, the epoch and the
time left for the whole job (all its seeds' packs, not restarting at each one).

It only reads a clock and the loop's counters: nothing here changes a number a run records, so it
is left out of the runs' training fingerprint (collusion.fingerprint.RECORD_ONLY). Torch-free.
"""

from __future__ import annotations

import math
import os
import time

# the least time between two progress lines on the console, in seconds (the first comes after the
# job's first period); the environment variable PROGRESS_VARIABLE sets another (0: every period)
PROGRESS_SECONDS = 30.0
PROGRESS_VARIABLE = "COLLUSION_PROGRESS_SECONDS"

# the metrics of a log line: its label -> the history column
LOG_METRICS = {
    "L_β": "train_objective",
    "val L_ens": "val_L_ens",
    "test L_ens": "test_L_ens",
    "test DIV": "test_DIV",
}


def progress_seconds(environ=os.environ) -> float:
    """The least time between two progress lines: PROGRESS_VARIABLE, else PROGRESS_SECONDS."""
    value = environ.get(PROGRESS_VARIABLE, "").strip()
    if not value:
        return PROGRESS_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise ValueError(
            f"{PROGRESS_VARIABLE}={value!r}: the least time between two progress lines must be a "
            f"number of seconds >= 0 (0: a line every period); unset it for {PROGRESS_SECONDS:g}"
        )
    return seconds


def duration(seconds: float) -> str:
    """A log line's time: 7s, 2m05s, 1h02m."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def seeds_text(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ",".join(map(str, seeds))


def values_text(values: list[float | None]) -> str:
    """One value bare, several in brackets (a β whose runs have all stopped: -)."""
    texts = ["-" if value is None else f"{value:.4g}" for value in values]
    return texts[0] if len(texts) == 1 else "[" + " ".join(texts) + "]"


class Progress:
    """A training job's progress: ``packs`` packs trained one after another, ``epochs`` periods
    each. The trainer calls ``start_pack``, ``end_of_period`` after each period (which returns the
    log line and writes the progress line to ``stream`` when it is due, at most every
    ``progress_seconds()`` by ``clock``) and ``end_pack``; ``log`` writes a line to ``log_file``.

    The time left is the job's: the time since its first pack started training over the periods
    trained since, times the periods left in all its packs (so the start-up before the first
    period is not extrapolated, and the work between packs is; a pack that ends early, its runs all
    stopped, counts as done; a resumed pack's periods before its checkpoint count as done, not as
    trained)."""

    def __init__(
        self,
        name: str = "",
        packs: int = 1,
        epochs: int = 1,
        stream=None,
        log_file=None,
        clock=time.monotonic,
    ):
        self.name, self.packs, self.epochs = name, packs, epochs
        self.stream, self.log_file, self.clock = stream, log_file, clock
        self.every = progress_seconds()
        self.started = clock()
        self.training_since: float | None = None  # when the first pack started training
        self.done = 0  # periods of the job done (trained, resumed from or skipped)
        self.trained = 0  # periods trained by this process
        self.pack = 0  # the pack under way, from 1
        self.pack_done = 0  # its periods done
        self.runs: list[tuple[int, float]] = []  # its runs' (seed, β)
        self.printed: float | None = None  # when the last progress line was written

    @property
    def total(self) -> int:
        return self.packs * self.epochs

    def elapsed(self) -> float:
        return self.clock() - self.started

    def eta(self) -> float | None:
        """Seconds left for the whole job (None before a period is trained)."""
        if not self.trained:
            return None
        seconds = self.clock() - self.training_since
        return seconds / self.trained * max(0, self.total - self.done)

    def log(self, message: str) -> None:
        print(message, file=self.log_file, flush=True)

    # -- the trainer's calls ------------------------------------------------------------------------
    def start_pack(self, runs: list[tuple[int, float]], epoch: int = 0) -> None:
        """A pack of ``runs`` ((seed, β) each) starts, or resumes after ``epoch`` periods."""
        self.pack += 1
        if self.training_since is None:
            self.training_since = self.clock()
        self.runs, self.pack_done = list(runs), epoch
        self.done += epoch

    def end_of_period(self, epoch: int, rows: dict[int, dict], seconds: float) -> str:
        """Period ``epoch`` of the pack trained (``rows``: run index -> its history row, for the
        runs that trained it; ``seconds``: its time): the log line; the progress line if due."""
        self.trained += 1
        self.done += epoch - self.pack_done
        self.pack_done = epoch
        now = self.clock()
        if self.stream is not None and (self.printed is None or now - self.printed >= self.every):
            self.printed = now
            print(self.progress_line(epoch), file=self.stream, flush=True)
        return self.log_line(epoch, rows, seconds)

    def end_pack(self) -> None:
        """The pack has finished: the periods it did not train (every run stopped) are done."""
        self.done += self.epochs - self.pack_done
        self.pack_done = self.epochs

    # -- the lines ----------------------------------------------------------------------------------
    def seeds(self) -> list[int]:
        return list(dict.fromkeys(seed for seed, _ in self.runs))

    def betas(self) -> list[float]:
        return list(dict.fromkeys(beta for _, beta in self.runs))

    def where(self) -> str:
        """The seed(s) and β of the pack under way (and which pack, in a job of several)."""
        which = f" (pack {self.pack} of {self.packs})" if self.packs > 1 else ""
        runs = f" ({len(self.runs)} runs)" if len(self.runs) > 1 else ""
        betas = " ".join(f"{beta:g}" for beta in self.betas())
        return f"{seeds_text(self.seeds())}{which}, β {betas}{runs}"

    def times(self) -> str:
        eta = self.eta()
        return f"elapsed {duration(self.elapsed())}, eta {'?' if eta is None else duration(eta)}"

    def progress_line(self, epoch: int) -> str:
        """The console's line: the job, where it is, its share done and the time left."""
        name = f"[{self.name}] " if self.name else ""
        share = self.done / self.total if self.total else 1.0
        return (
            f"{name}{self.where()}: epoch {epoch}/{self.epochs}, job {share:.0%} done, "
            f"{self.times()}"
        )

    def log_line(self, epoch: int, rows: dict[int, dict], seconds: float) -> str:
        """The log's line for the pack's period: its seed(s); each β's metrics (the mean over the
        seeds whose run trained this period); the period's time, the job's elapsed time and ETA."""
        seeds, betas = self.seeds(), self.betas()
        by_beta = {
            beta: [row for r, row in rows.items() if self.runs[r][1] == beta] for beta in betas
        }
        metrics = []
        for label, column in LOG_METRICS.items():
            means = [
                sum(r[column] for r in rs) / len(rs) if rs else None for rs in by_beta.values()
            ]
            metrics.append(f"{label} {values_text(means)}")
        head = f"epoch {epoch}/{self.epochs} {seeds_text(seeds)}"
        head += f", β {values_text(betas)}" + (" (mean over the seeds)" if len(seeds) > 1 else "")
        if len(rows) < len(self.runs):
            head += f", {len(rows)} of {len(self.runs)} runs training"
        return f"{head}: {', '.join(metrics)} ({seconds:.2f}s, {self.times()})"
