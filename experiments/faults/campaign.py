"""Re-runs the CLI cases of issue 21's fault campaign against the installed ``disentax``.

Each case works in a fresh temporary folder, runs the commands a user or an operator
would (kill, truncate, overwrite, chmod, pipe, two jobs at once), then checks the
behaviour the issue asks for from what the commands did: exit codes, their output, the
files left in the run folder. No outcome is written in advance; every verdict comes from
the checks. A Python traceback in any command's output fails its case.

Usage:
  nice -n 15 python experiments/faults/campaign.py --out results/faults/campaign.json
  python experiments/faults/campaign.py --cases 3,9 --keep   # a subset; keep the folders

The run is tiny (dense model, ``synthetic_identity``, 60 steps of 8 images): the whole
campaign takes minutes on a CPU. See experiments/faults/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]
DISENTAX = str(pathlib.Path(sys.executable).parent / "disentax")  # the venv's console script
TRACEBACK = "Traceback (most recent call last)"
ERROR_LINE = re.compile(r"^disentax( \w+)?: error: (.*)$")

# The issue's `W`: a short run that checkpoints and logs every 10 steps.
TINY = [
    "--config.model=fc",
    "--config.dataset=synthetic_identity",
    "--config.batch_size=8",
    "--config.num_latents=4",
    "--config.evaluate=False",
]
SHORT = [*TINY, "--config.num_steps=60", "--config.checkpoint_every=10", "--config.log_every=10"]
# A run long enough to be hit while it trains (signals, a second job, kill -9).
LONG_STEPS = 300
LONG = [
    *TINY,
    f"--config.num_steps={LONG_STEPS}",
    "--config.checkpoint_every=10",
    "--config.log_every=10",
]
# A process ended by one of these crashed (a signal sent by a case is TERM, INT, HUP or KILL).
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}
FAST_METRICS = ["--metrics", "mig", "--workers", "1"]  # seconds, one process


# ---------------------------------------------------------------------------- commands


@dataclasses.dataclass
class Result:
    """One command: what ran and what it did."""

    argv: list[str]
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    note: str = ""

    @property
    def text(self) -> str:
        return self.stdout + "\n" + self.stderr

    @property
    def traceback(self) -> bool:
        return TRACEBACK in self.text

    def traceback_summary(self) -> str:
        """For a traceback: its exception line, length and the command ("" without one)."""
        if not self.traceback:
            return ""
        lines = self.text[self.text.index(TRACEBACK) :].splitlines()
        last = next((x for x in reversed(lines) if x.strip() and not x[0].isspace()), "?")
        argv = ["disentax" if a == DISENTAX else a for a in self.argv[:3]]
        return f"{last[:120]} ({len(lines)}-line traceback) from `{' '.join(argv)} ...`"

    def error_lines(self) -> list[str]:
        return [m.group(0) for m in map(ERROR_LINE.match, self.text.splitlines()) if m]

    def record(self, root: pathlib.Path) -> dict:
        def short(text: str, limit: int = 1500) -> str:
            text = text.replace(str(root), "$ROOT").replace(DISENTAX, "disentax")
            return text if len(text) <= limit else "..." + text[-limit:]

        argv = ["disentax" if a == DISENTAX else a for a in self.argv]
        return {
            "command": short(shlex.join(argv), 4000),
            "rc": self.rc,
            "seconds": round(self.seconds, 2),
            "timed_out": self.timed_out,
            "traceback": self.traceback,
            "stdout_tail": short(self.stdout),
            "stderr_tail": short(self.stderr),
            **({"note": self.note} if self.note else {}),
        }


class Job:
    """A command started in the background; its output goes to files of the case."""

    def __init__(self, argv, folder: pathlib.Path, name: str, env=None):
        self.argv = list(argv)
        self.out = folder / f"{name}.out"
        self.err = folder / f"{name}.err"
        self.start = time.perf_counter()
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,  # a timeout ends the job and whatever it started
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait(self, timeout: float, note: str = "") -> Result:
        timed_out = False
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return Result(
            self.argv,
            None if timed_out else self.proc.returncode,
            self.out.read_text(errors="replace"),
            self.err.read_text(errors="replace"),
            time.perf_counter() - self.start,
            timed_out,
            note,
        )


_counter = [0]


def run(argv, folder: pathlib.Path, *, timeout: float = 180, env=None, note="") -> Result:
    """Runs ``argv`` to its end (killed after ``timeout`` seconds)."""
    _counter[0] += 1
    return Job(argv, folder, f"cmd{_counter[0]:03d}", env=env).wait(timeout, note)


def disentax(*args: str) -> list[str]:
    return [DISENTAX, *args]


def train(workdir: pathlib.Path, flags=SHORT, *extra: str) -> list[str]:
    return disentax("train", "--workdir", str(workdir), *flags, *extra)


def env_with(**changes: str) -> dict:
    env = dict(os.environ)
    env.update(changes)
    return env


# ---------------------------------------------------------------------------- run folders


def metrics_rows(workdir: pathlib.Path) -> tuple[list[dict], list[str], bool]:
    """``(rows, unparseable lines, ends with a newline)`` of the training log."""
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        return [], [], True
    text = path.read_text(errors="replace")
    rows, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad.append(line[:120])
            continue
        rows.append(row)
    return rows, bad, text.endswith("\n") or not text


def steps_of(rows: list[dict]) -> list:
    return [row.get("step") for row in rows]


def strictly_increasing(values) -> bool:
    return all(isinstance(v, int) for v in values) and all(
        a < b for a, b in zip(values, values[1:], strict=False)
    )


def checkpoint_steps(workdir: pathlib.Path) -> list[int]:
    folder = workdir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def set_aside(workdir: pathlib.Path) -> list[str]:
    """Names in ``checkpoints_corrupt/`` (``<step>-<time>``)."""
    folder = workdir / "checkpoints_corrupt"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def set_aside_steps(workdir: pathlib.Path) -> set[int]:
    steps = set()
    for name in set_aside(workdir):
        head = name.split("-", 1)[0]
        if head.isdigit():
            steps.add(int(head))
    return steps


def tree_digest(path: pathlib.Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``path`` (the lock file left out)."""
    digest = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.name == ".lock":
            continue
        digest[str(file.relative_to(path))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digest


def resumed_from(text: str) -> int | None:
    """The step a training said it resumed from, or None."""
    found = re.findall(r"resuming \S+ from checkpoint step (\d+)", text)
    return int(found[-1]) if found else None


def trained_to(text: str) -> int | None:
    found = re.findall(r"already trained to step (\d+)|done: \S+ at step (\d+)", text)
    return int(next(x for x in found[-1] if x)) if found else None


def started_fresh(text: str) -> bool:
    return "| fresh start" in text or ("restarting" in text and "from step 0" in text)


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def last_logged_step(workdir: pathlib.Path) -> int:
    rows, _, _ = metrics_rows(workdir)
    steps = [s for s in steps_of(rows) if isinstance(s, int)]
    return max(steps, default=0)


def descendants(pid: int) -> list[tuple[int, str]]:
    """``(pid, start time)`` of every live descendant of ``pid`` (from /proc)."""
    parents = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = (int(fields[1]), fields[19])  # ppid, start time
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, start) in parents.items():
            if ppid == parent:
                found.append((child, start))
                frontier.append(child)
    return found


def lock_free(path: pathlib.Path) -> bool:
    """Whether no process holds ``flock`` on ``path`` (True when there is no such file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def alive(pid: int, start: str) -> bool:
    """Whether the process ``pid`` started at ``start`` still runs (not a zombie)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] == start and fields[0] != "Z"


# ---------------------------------------------------------------------------- cases


class Case:
    """The commands and checks of one case; its verdict is PASS only if every check holds."""

    def __init__(self, key: str, title: str, root: pathlib.Path):
        self.key, self.title = key, title
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=f"case{key}-", dir=root))
        self.results: list[Result] = []
        self.checks: list[tuple[str, bool, str]] = []
        self.facts: list[str] = []  # what happened, for the one-line reason of a PASS

    def fact(self, text: str) -> None:
        self.facts.append(text)

    def said(self, result: Result, width: int = 90) -> str:
        """The message of a command's error line (paths under the case folder shortened)."""
        lines = result.error_lines()
        message = (
            ERROR_LINE.match(lines[0]).group(2) if lines else f"no error line (rc {result.rc})"
        )
        message = message.replace(str(self.dir) + "/", "")
        return message if len(message) <= width else message[: width - 3] + "..."

    def run(self, argv, **kwargs) -> Result:
        result = run(argv, self.dir, **kwargs)
        self.results.append(result)
        return result

    def add(self, result: Result) -> Result:
        self.results.append(result)
        return result

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, bool(ok), detail))
        return bool(ok)

    def clear_error(self, name: str, result: Result, *mentions: str, reports=None) -> bool:
        """Exit status non-zero, no traceback, one ``disentax CMD: error:`` line naming each
        of ``mentions`` (case-insensitive), at most 2 other lines on standard error besides
        those matching the regex ``reports`` (e.g. a line per checkpoint passed over)."""
        errors = result.error_lines()
        others = [
            line
            for line in result.stderr.splitlines()
            if line.strip()
            and not ERROR_LINE.match(line)
            and not line.startswith("usage:")
            and not (reports and re.search(reports, line))
        ]
        line = errors[0] if errors else ""
        missing = [m for m in mentions if m.lower() not in line.lower()]
        ok = (
            result.rc not in (0, None)
            and not result.traceback
            and len(errors) == 1
            and not missing
            and len(others) <= 2
        )
        detail = (
            f"rc={result.rc}, traceback={result.traceback}, error lines={len(errors)}, "
            f"other stderr lines={len(others)}"
            + (f", not named: {missing}" if missing else "")
            + (f": {line[:240]}" if line else "")
        )
        return self.check(name, ok, detail)

    def record(self, root: pathlib.Path, verdict: str, reason: str) -> dict:
        return {
            "case": self.key,
            "title": self.title,
            "verdict": verdict,
            "reason": reason,
            "facts": self.facts,
            "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in self.checks],
            "commands": [r.record(root) for r in self.results],
        }


def fresh_copy(case: Case, base: pathlib.Path, name: str = "W") -> pathlib.Path:
    """A copy of the finished base run (the issue's `W`) in the case's folder."""
    workdir = case.dir / name
    shutil.copytree(base, workdir, symlinks=True)
    return workdir


def check_no_restart(case: Case, name: str, result: Result) -> None:
    text = result.text
    case.check(
        f"{name}: no silent restart from step 0",
        not started_fresh(text) or result.rc != 0,
        "the output says: fresh start / restarting from step 0"
        if started_fresh(text)
        else "no fresh start",
    )


def check_log(case: Case, workdir: pathlib.Path, last: int, what: str = "metrics.jsonl") -> None:
    rows, bad, newline = metrics_rows(workdir)
    steps = steps_of(rows)
    case.check(
        f"{what}: every line parses",
        not bad and newline,
        f"{len(rows)} rows, unparseable {bad[:2]}, ends with newline: {newline}",
    )
    case.check(
        f"{what}: steps strictly increasing up to {last}",
        strictly_increasing(steps) and bool(steps) and steps[-1] == last,
        f"steps {steps}",
    )


def case_1_foreign_step(case: Case, base: pathlib.Path) -> None:
    workdir = fresh_copy(case, base)
    good = checkpoint_steps(workdir)
    (workdir / "checkpoints" / "999").mkdir()
    case.results.append(Result(["mkdir", "W/checkpoints/999"], 0, "", "", 0.0))
    _two_trainings(case, workdir, good)


def case_1_empty_newest(case: Case, base: pathlib.Path) -> None:
    workdir = fresh_copy(case, base)
    steps = checkpoint_steps(workdir)
    newest = workdir / "checkpoints" / str(steps[-1])
    shutil.rmtree(newest)
    newest.mkdir()
    case.results.append(Result(["rm -r; mkdir", f"W/checkpoints/{steps[-1]}"], 0, "", "", 0.0))
    _two_trainings(case, workdir, steps[:-1])


def _two_trainings(case: Case, workdir: pathlib.Path, good: list[int]) -> None:
    """T; T over a folder whose newest step folder is unreadable: resume or refuse loudly."""
    expected = max(good)  # the newest intact step
    for i in (1, 2):
        result = case.run(train(workdir), timeout=240)
        name = f"T#{i}"
        check_no_restart(case, name, result)
        if result.rc == 0:
            start = resumed_from(result.text)
            case.check(
                f"{name}: resumes from the newest good step",
                start is not None and start == expected,
                f"resumed from {start}, newest good step {expected}",
            )
            expected = trained_to(result.text) or expected  # what the next T finds
            case.fact(f"{name} resumed from {start}")
        else:
            case.clear_error(f"{name}: refuses loudly", result)
            case.fact(f"{name} refused (rc {result.rc})")
    lost = sorted(set(good) & set_aside_steps(workdir))
    case.check(
        "good checkpoints not set aside",
        not lost and set(good) <= set(checkpoint_steps(workdir)),
        f"checkpoints now {checkpoint_steps(workdir)}, set aside {set_aside(workdir)}",
    )
    case.fact(f"checkpoints {checkpoint_steps(workdir)}, set aside {set_aside(workdir)}")
    check_log(case, workdir, 60)


def case_2_layout_change(case: Case, base: pathlib.Path) -> None:
    workdir = fresh_copy(case, base)
    config_path = workdir / "config.json"
    record = json.loads(config_path.read_text())
    before = int(record["config"]["num_latents"])
    edited = before + 1
    record["config"]["num_latents"] = edited
    config_path.write_text(json.dumps(record, indent=2))
    case.results.append(
        Result(["edit", f"config.json num_latents {before} -> {edited}"], 0, "", "", 0.0)
    )
    checkpoints_before = tree_digest(workdir / "checkpoints")
    log_before = tree_digest(workdir)["metrics.jsonl"]
    same = case.run(train(workdir), timeout=120)
    case.clear_error("T (command line as before): clear error", same, "num_latents")
    matching = case.run(train(workdir, SHORT, f"--config.num_latents={edited}"), timeout=180)
    case.clear_error("T --config.num_latents=<edited>: clear error", matching, "checkpoint")
    evaluate = case.run(disentax("evaluate", "--workdir", str(workdir), *FAST_METRICS))
    case.clear_error("evaluate: clear error", evaluate, "checkpoint")
    traverse = case.run(disentax("traverse", "--workdir", str(workdir)))
    case.clear_error("traverse: clear error", traverse, "checkpoint")
    for name, result in (("T", same), ("T (edited latents)", matching)):
        check_no_restart(case, name, result)
    case.check(
        "checkpoints untouched",
        tree_digest(workdir / "checkpoints") == checkpoints_before and not set_aside(workdir),
        f"checkpoints {checkpoint_steps(workdir)}, set aside {set_aside(workdir)}",
    )
    case.check("metrics.jsonl untouched", tree_digest(workdir)["metrics.jsonl"] == log_before)
    case.fact(
        f"train/train/evaluate/traverse exit {[same.rc, matching.rc, evaluate.rc, traverse.rc]} "
        "('different config', then 'does not match the model'); checkpoints untouched"
    )


def case_3_partial_log(case: Case, base: pathlib.Path) -> None:
    workdir = fresh_copy(case, base)
    newest = checkpoint_steps(workdir)[-1]
    for argv in (
        ["truncate", "-s", "-60", str(workdir / "metrics.jsonl")],
        ["rm", "-r", str(workdir / "checkpoints" / str(newest))],
    ):
        case.check(f"setup: {argv[0]}", case.run(argv, timeout=30).rc == 0)
    remaining = checkpoint_steps(workdir)
    resumed = case.run(train(workdir), timeout=240)
    case.check("T: exit 0", resumed.rc == 0, f"rc={resumed.rc}")
    check_no_restart(case, "T", resumed)
    start = resumed_from(resumed.text)
    case.check(
        "T: resumes from the newest checkpoint",
        bool(remaining) and start == max(remaining),
        f"resumed from {start}; checkpoints before {remaining}",
    )
    check_log(case, workdir, newest)
    t0 = time.time()
    traverse = case.run(disentax("traverse", "--workdir", str(workdir)), timeout=240)
    case.check("traverse: exit 0", traverse.rc == 0, f"rc={traverse.rc}")
    curves = [p for p in workdir.rglob("curves.png") if p.stat().st_mtime >= t0 - 1]
    case.check(
        "traverse: curves drawn",
        bool(curves) and "No training curves" not in traverse.text,
        f"curves.png written: {[str(p.relative_to(workdir)) for p in curves]}",
    )
    dropped = next((x for x in resumed.text.splitlines() if "dropped" in x), "nothing dropped")
    case.fact(f"resumed from {start}; {dropped.split(': ', 1)[-1]}; log parses; curves drawn")


def case_4_sigpipe(case: Case, base: pathlib.Path) -> None:
    workdir = case.dir / "W"
    command = shlex.join(train(workdir)) + ' 2>&1 | head -2; echo "__PIPESTATUS__ ${PIPESTATUS[*]}"'
    piped = case.run(["bash", "-c", command], timeout=240)
    status = re.findall(r"__PIPESTATUS__ (\d+) (\d+)", piped.stdout)
    piped.note = f"disentax exit status in the pipe: {status[-1][0] if status else 'unknown'}"
    lines = [x for x in piped.stdout.splitlines() if not x.startswith("__PIPESTATUS__")]
    case.check("head -2 printed 2 lines", len(lines) == 2, f"{len(lines)} lines")
    saved = checkpoint_steps(workdir)
    case.check("a checkpoint is saved", bool(saved), f"checkpoints {saved}")
    again = case.run(train(workdir), timeout=240)
    check_no_restart(case, "T", again)
    start = resumed_from(again.text)
    case.check(
        "T: resumes from the saved checkpoint",
        again.rc == 0 and saved and start == max(saved),
        f"rc={again.rc}, resumed from {start}, saved {saved}",
    )
    case.check("T: reaches step 60", trained_to(again.text) == 60, f"{trained_to(again.text)}")
    check_log(case, workdir, 60)
    case.fact(f"{piped.note}, checkpoints {saved}; T resumed from {start}")


def case_4_sighup(case: Case, base: pathlib.Path) -> None:
    workdir = case.dir / "W"
    job = Job(train(workdir, LONG), case.dir, "hup")
    hit = wait_for(lambda: last_logged_step(workdir) >= 50 or job.proc.poll() is not None, 240)
    at = last_logged_step(workdir)
    running = job.proc.poll() is None
    if running:
        os.kill(job.pid, signal.SIGHUP)
    result = case.add(job.wait(120, note=f"SIGHUP sent after step {at} was logged"))
    if not case.check("SIGHUP arrived mid-run", hit and running, f"logged step {at}"):
        return
    saved = checkpoint_steps(workdir)
    logged = last_logged_step(workdir)
    case.check("process ended after SIGHUP", not result.timed_out, f"rc={result.rc}")
    case.check(
        "a checkpoint of the step reached is saved",
        bool(saved) and max(saved) >= logged and max(saved) < LONG_STEPS,
        f"checkpoints {saved}, last logged step {logged}",
    )
    again = case.run(train(workdir, LONG), timeout=300)
    check_no_restart(case, "T", again)
    start = resumed_from(again.text)
    case.check(
        "T: resumes from that checkpoint",
        again.rc == 0 and bool(saved) and start == max(saved),
        f"rc={again.rc}, resumed from {start}",
    )
    check_log(case, workdir, LONG_STEPS)
    case.fact(
        f"SIGHUP after step {at} logged: exit {result.rc}, checkpoints {saved}; "
        f"T resumed from {start} to {trained_to(again.text)}"
    )


def _overwrite(case: Case, workdir: pathlib.Path, step: int, rng) -> str:
    """64 bytes overwritten in the middle of the largest data file of checkpoint ``step``."""
    folder = workdir / "checkpoints" / str(step)
    files = [p for p in folder.rglob("*") if p.is_file() and p.parent.name == "d"]
    target = max(files, key=lambda p: p.stat().st_size)
    offset = target.stat().st_size // 2
    with open(target, "r+b") as f:
        f.seek(offset)
        f.write(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    where = f"{target.relative_to(workdir)} ({target.stat().st_size} bytes) at offset {offset}"
    case.results.append(Result(["overwrite 64 bytes", where], 0, "", "", 0.0))
    return where


def case_5_overwritten(case: Case, base: pathlib.Path) -> None:
    rng = np.random.default_rng(21)
    workdir = fresh_copy(case, base)
    steps = checkpoint_steps(workdir)
    bad = steps[-1]
    _overwrite(case, workdir, bad, rng)
    traverse = case.run(disentax("traverse", "--workdir", str(workdir)), timeout=240)
    if traverse.rc == 0:
        case.check(
            "traverse: falls back past the damaged step (and says so)",
            str(bad) in traverse.text and not traverse.traceback,
            "exit 0; " + next((x for x in traverse.text.splitlines() if str(bad) in x), "")[:200],
        )
    else:
        case.clear_error("traverse: clear error", traverse)
    evaluate = case.run(disentax("evaluate", "--workdir", str(workdir), *FAST_METRICS))
    if evaluate.rc == 0:
        record = json.loads((workdir / "evaluation.json").read_text())
        scores = record.get("metrics", {})
        finite = bool(scores) and all(np.isfinite(v) for v in scores.values())
        case.check(
            "evaluate: scores an older, intact step",
            record.get("step") in steps[:-1] and finite,
            f"evaluation.json step {record.get('step')}, scores {scores}",
        )
    else:
        case.clear_error("evaluate: clear error", evaluate)
    again = case.run(train(workdir), timeout=240)
    check_no_restart(case, "T", again)
    start = resumed_from(again.text)
    case.check(
        "T: resumes from the newest intact step, trains to 60",
        again.rc == 0 and start == steps[-2] and trained_to(again.text) == 60,
        f"rc={again.rc}, resumed from {start}, trained to {trained_to(again.text)}",
    )
    check_log(case, workdir, 60)
    # every checkpoint damaged: nothing can be scored, which must be an error
    ruined = fresh_copy(case, base, "W_all")
    for step in checkpoint_steps(ruined):
        _overwrite(case, ruined, step, rng)
    passed_over = r"checkpoint \d+ .*cannot be read"
    nothing = case.run(disentax("evaluate", "--workdir", str(ruined), *FAST_METRICS))
    case.clear_error(
        "evaluate, every checkpoint damaged: exits non-zero",
        nothing,
        "checkpoint",
        reports=passed_over,
    )
    case.check("no evaluation.json written", not (ruined / "evaluation.json").exists())
    used = (
        json.loads((workdir / "evaluation.json").read_text()).get("step")
        if (workdir / "evaluation.json").is_file()
        else None
    )
    case.fact(
        f"step {bad} damaged: traverse exit {traverse.rc}, evaluate exit {evaluate.rc} "
        f"(scored step {used}), T resumed from {start}"
    )
    drawn = case.run(disentax("traverse", "--workdir", str(ruined)), timeout=240)
    case.clear_error(
        "traverse, every checkpoint damaged: clear error", drawn, "checkpoint", reports=passed_over
    )
    case.fact(f"all damaged: evaluate exit {nothing.rc}, traverse exit {drawn.rc}")


def case_6_two_trainings(case: Case, base: pathlib.Path) -> None:
    workdir = case.dir / "W"
    steps = 5000  # still training while the second jobs start
    flags = [*TINY, f"--config.num_steps={steps}", "--config.checkpoint_every=50"]
    first = Job(train(workdir, flags, "--config.log_every=10"), case.dir, "first")
    started = wait_for(lambda: last_logged_step(workdir) > 0 or first.proc.poll() is not None, 240)
    config_before = (workdir / "config.json").read_bytes() if started else b""
    host = socket.gethostname()
    seconds = []
    for name, argv in (
        (
            "second train (seed 1)",
            train(workdir, flags, "--config.log_every=10", "--config.seed=1"),
        ),
        ("second train (same config)", train(workdir, flags, "--config.log_every=10")),
        ("evaluate", disentax("evaluate", "--workdir", str(workdir), *FAST_METRICS)),
        ("traverse", disentax("traverse", "--workdir", str(workdir))),
    ):
        result = case.run(argv, timeout=120)
        seconds.append(result.seconds)
        case.clear_error(f"{name}: refuses, naming pid and host", result, str(first.pid), host)
    still = first.proc.poll() is None
    if still:
        os.kill(first.pid, signal.SIGTERM)
    result = case.add(first.wait(120, note="the first training, SIGTERM after the checks"))
    case.check(
        "the first training held the folder throughout",
        started and still,
        f"first training running after the second jobs: {still}",
    )
    case.check(
        "config.json still the first training's",
        (workdir / "config.json").read_bytes() == config_before,
    )
    case.check("first training ended on SIGTERM", not result.timed_out, f"rc={result.rc}")
    rows, _, _ = metrics_rows(workdir)
    case.check("its log is one sequence", strictly_increasing(steps_of(rows)), "")
    case.fact(f"4 second jobs refused naming pid {first.pid} on {host}; first ended {result.rc}")


def case_9_seed(case: Case, base: pathlib.Path) -> None:
    for seed in ("4294967296",):
        workdir = case.dir / f"W{seed}"
        result = case.run(train(workdir, SHORT, f"--config.seed={seed}"), timeout=120)
        case.clear_error(f"seed {seed}: clear error naming seed", result, "seed")
        case.fact(f"exit {result.rc}: {case.said(result)}")
        written = [str(p) for p in workdir.rglob("*")] if workdir.exists() else []
        case.check(
            f"seed {seed}: nothing written",
            not workdir.exists() or not written,
            f"workdir exists: {workdir.exists()}, files {written[:5]}",
        )


def case_10_kill9(case: Case, base: pathlib.Path) -> None:
    # logs every 5 steps, checkpoints every 20: a kill leaves log rows past the checkpoint
    flags = [*TINY, f"--config.num_steps={LONG_STEPS}", "--config.log_every=5"]
    flags += ["--config.checkpoint_every=20"]
    killed = case.dir / "W"
    job = Job(train(killed, flags), case.dir, "killed")
    target = LONG_STEPS * 2 // 5
    hit = wait_for(lambda: last_logged_step(killed) >= target or job.proc.poll() is not None, 240)
    at = last_logged_step(killed)
    running = job.proc.poll() is None
    if running:
        os.kill(job.pid, signal.SIGKILL)
    case.add(job.wait(60, note=f"kill -9 after step {at} was logged"))
    if not case.check("kill -9 arrived mid-run", hit and running, f"logged step {at}"):
        return
    saved = checkpoint_steps(killed)
    past = [s for s in steps_of(metrics_rows(killed)[0]) if saved and s > max(saved)]
    again = case.run(train(killed, flags), timeout=300)
    again.note = f"after the kill: checkpoints {saved}, log rows past the newest: {past}"
    check_no_restart(case, "resume", again)
    start = resumed_from(again.text)
    case.check(
        "resume: from the newest checkpoint",
        again.rc == 0 and bool(saved) and start == max(saved),
        f"rc={again.rc}, resumed from {start}, checkpoints after the kill {saved}",
    )
    check_log(case, killed, LONG_STEPS)
    reference = case.dir / "R"
    uninterrupted = case.run(train(reference, flags), timeout=300)
    case.check("uninterrupted run: exit 0", uninterrupted.rc == 0, f"rc={uninterrupted.rc}")
    same, detail = same_final_params(killed, reference)
    case.check("final params bit-identical to the uninterrupted run", same, detail)
    dropped = next((x for x in again.text.splitlines() if "dropped" in x), "nothing dropped")
    case.fact(
        f"kill -9 after step {at}: checkpoints {saved}; resumed from {start}; "
        f"{dropped.split(': ', 1)[-1]}; params {'bit-identical' if same else 'DIFFER'}"
    )


def same_final_params(a: pathlib.Path, b: pathlib.Path) -> tuple[bool, str]:
    """Whether the newest checkpoints of two run folders hold the same parameter bits."""
    import jax

    from disentax import runs

    loaded = [runs.load(a), runs.load(b)]
    trees = [
        {
            jax.tree_util.keystr(k): np.asarray(v)
            for k, v in jax.tree_util.tree_leaves_with_path(r.params)
        }
        for r in loaded
    ]
    if trees[0].keys() != trees[1].keys():
        return False, "different parameter trees"
    differ = []
    for name, x in trees[0].items():
        y = trees[1][name]
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            diff = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
            differ.append(f"{name} (max |diff| {diff:.3g})")
    steps = [r.step for r in loaded]
    detail = f"steps {steps}, {len(trees[0])} leaves, " + (
        f"differ: {differ[:4]}" if differ else "every leaf equal bit for bit"
    )
    return not differ and steps[0] == steps[1], detail


def read_only_wrapper() -> list[str]:
    """A prefix that runs a command without root's permission to write anywhere (root only).

    As root, ``chmod -R a-w`` stops nothing: the command runs without the capabilities
    that bypass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER).
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        raise RuntimeError("running as root without setpriv: a read-only folder cannot be made")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def case_13_read_only(case: Case, base: pathlib.Path) -> None:
    workdir = fresh_copy(case, base)
    wrapper = read_only_wrapper()
    case.check("setup: chmod -R a-w", case.run(["chmod", "-R", "a-w", str(workdir)]).rc == 0)
    try:
        probe = case.run([*wrapper, "touch", str(workdir / "probe")], timeout=30)
        if not case.check("setup: the folder is read-only to the commands", probe.rc != 0):
            return
        before = tree_digest(workdir)
        again = case.run([*wrapper, *train(workdir)], timeout=180)
        if again.rc == 0:
            case.check(
                "T (finished run): exit 0 without a traceback",
                not again.traceback and trained_to(again.text) == 60,
                f"says trained to {trained_to(again.text)}",
            )
        else:
            case.clear_error("T (finished run): clear error", again, str(workdir))
        evaluate = case.run(
            [*wrapper, *disentax("evaluate", "--workdir", str(workdir))], timeout=400
        )
        case.clear_error("evaluate: clear error", evaluate, str(workdir))
        scored = [x for x in evaluate.stdout.splitlines() if x.startswith("  ")]
        case.check(
            "evaluate: nothing computed before failing",
            not scored and "evaluation done" not in evaluate.text,
            f"{len(scored)} metric lines, failed after {evaluate.seconds:.1f} s",
        )
        traverse = case.run([*wrapper, *disentax("traverse", "--workdir", str(workdir))])
        case.clear_error("traverse: clear error", traverse, str(workdir))
        case.check("folder unchanged", tree_digest(workdir) == before)
        case.fact(
            f"train exit {again.rc}, evaluate exit {evaluate.rc} after {evaluate.seconds:.0f} s "
            f"({len(scored)} metrics scored), traverse exit {traverse.rc}; folder unchanged"
        )
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(workdir)], check=False)


def folder_bytes(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def case_13_full_disk(case: Case, base: pathlib.Path) -> None:
    # a disk with room for the run folder and two checkpoints (a tmpfs; mounting needs
    # root): T fills it at the third save; then the disk grows ("space freed") and T again
    checkpoint = folder_bytes(base / "checkpoints" / str(max(checkpoint_steps(base))))
    disk = case.dir / "disk"
    disk.mkdir()
    size = int(2.5 * checkpoint)
    mount = case.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)])
    if not case.check("setup: a small tmpfs mounted (root)", mount.rc == 0, mount.stderr[-200:]):
        return
    try:
        workdir = disk / "W"
        full = case.run(train(workdir), timeout=180)
        case.clear_error("T on a full disk: clear error", full, "checkpoint", "resume from step",
                         reports=r"^(step \d+/\d+ |first train step)")  # fmt: skip
        kept = checkpoint_steps(workdir)
        partial = [p.name for p in (workdir / "checkpoints").iterdir() if "tmp" in p.name]
        case.check("the saved checkpoints are kept", len(kept) >= 1, f"checkpoints {kept}")
        case.check("no partial checkpoint folder left", not partial, f"left: {partial}")
        grown = case.run(["mount", "-o", f"remount,size={20 * checkpoint}", str(disk)])
        case.check("setup: the disk grown (space freed)", grown.rc == 0, grown.stderr[-200:])
        again = case.run(train(workdir), timeout=180)
        case.check(
            "T again: resumes from the newest kept checkpoint and finishes",
            again.rc == 0 and resumed_from(again.text) == max(kept, default=-1)
            and trained_to(again.text) == 60,
            f"rc={again.rc}, resumed from {resumed_from(again.text)}, kept {kept}",
        )  # fmt: skip
        check_log(case, workdir, 60)
        same, detail = same_final_params(workdir, base)
        case.check("final params bit-identical to the uninterrupted run", same, detail)
        case.fact(
            f"{size >> 20} MiB disk: exit {full.rc}, {case.said(full, 70)}; kept {kept}; "
            f"after freeing space resumed from {resumed_from(again.text)} to "
            f"{trained_to(again.text)}, params {'bit-identical' if same else 'DIFFER'}"
        )
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def case_16_large_batch(case: Case, base: pathlib.Path) -> None:
    # the command: the default model and data with a batch of 16384 (~60 GB a step)
    flags = ["--config.batch_size=16384", "--config.num_steps=2", "--config.evaluate=False"]
    for parallel in ("jit", "pmap"):
        workdir = case.dir / f"W-{parallel}"
        result = case.run(train(workdir, flags, f"--config.parallel={parallel}"), timeout=300)
        case.clear_error(f"{parallel}: clear error naming config.batch_size", result,
                         "config.batch_size", "would fit")  # fmt: skip
        case.check(f"{parallel}: no checkpoint, no log", not checkpoint_steps(workdir)
                   and not (workdir / "metrics.jsonl").exists())  # fmt: skip
        case.fact(f"{parallel}: exit {result.rc} after {result.seconds:.0f} s: "
                  f"{case.said(result, 110)}")  # fmt: skip


def case_14_file_as_folder(case: Case, base: pathlib.Path) -> None:
    afile = case.dir / "afile"
    afile.write_text("not a folder\n")
    for name, argv in (
        ("train --workdir afile/sub", train(afile / "sub")),
        ("train --workdir afile", train(afile)),
        (
            "data show --workdir afile",
            disentax("data", "show", "dsprites", "--workdir", str(afile), "--num", "16"),
        ),
        ("evaluate --workdir afile", disentax("evaluate", "--workdir", str(afile))),
        ("traverse --workdir afile", disentax("traverse", "--workdir", str(afile))),
    ):
        result = case.run(argv, timeout=120)
        case.clear_error(f"{name}: one clear line naming afile", result, "afile")
        case.fact(f"{name.split(' ')[0]}: {case.said(result, 50)}")
    case.check("afile unchanged", afile.read_text() == "not a folder\n")


def case_17_environment(case: Case, base: pathlib.Path) -> None:
    for name, env, mention in (
        (
            "DISENTAX_HOST_ALLOCATOR=bogus",
            {"DISENTAX_HOST_ALLOCATOR": "bogus"},
            "DISENTAX_HOST_ALLOCATOR",
        ),
        ("JAX_PLATFORMS=cuda", {"JAX_PLATFORMS": "cuda"}, "JAX_PLATFORMS"),
    ):
        workdir = case.dir / f"W_{name.split('=')[0]}"
        result = case.run(train(workdir), env=env_with(**env), timeout=120)
        case.clear_error(f"{name} train: one clear line", result, mention)
        case.fact(f"{case.said(result, 60)}")
        files = (
            [str(p.relative_to(workdir)) for p in workdir.rglob("*")] if workdir.exists() else []
        )
        case.check(f"{name}: nothing written", not files, f"files {files[:5]}")
    show = case.run(
        disentax("data", "show", "dsprites", "--num", "200000", "--workdir", str(case.dir))
    )
    case.clear_error("data show --num 200000: one clear line", show, "num")
    case.fact(case.said(show, 60))
    if importlib.util.find_spec("tensorflow_datasets") is None:
        tfds = case.run(disentax("data", "show", "tfds_dsprites", "--workdir", str(case.dir)))
        case.clear_error("tfds_dsprites without tensorflow-datasets: names it", tfds, "tensorflow")
        case.fact(case.said(tfds, 60))
    else:
        case.fact("tensorflow-datasets installed: the missing-extra check not run")


def case_18_config_input(case: Case, base: pathlib.Path) -> None:
    workdir = case.dir / "W"
    result = case.run(train(workdir, SHORT, "--config.foo=1"), timeout=120)
    case.fact(f"exit {result.rc}: {case.said(result, 70)}")
    if case.clear_error("--config.foo=1: clear error naming foo", result, "foo"):
        message = ERROR_LINE.match(result.error_lines()[0]).group(2)
        case.check(
            "the message says more than the key",
            message.strip(" '\"") != "foo",
            message[:200],
        )
    case.check("nothing written", not workdir.exists())
    shown = case.run(disentax("config", "show", "default", "--config.eval_sizes=quick"))
    case.check(
        "documented key settable: --config.eval_sizes=quick",
        shown.rc == 0
        and not shown.traceback
        and re.search(r"eval_sizes\s+\"quick\"", shown.stdout),
        f"rc={shown.rc}",
    )
    no_get_config = case.dir / "mine.py"
    no_get_config.write_text("num_steps = 10\n")
    loaded = case.run(disentax("train", "--config", str(no_get_config), "--workdir", str(workdir)))
    case.clear_error("a config file without get_config: says so", loaded, "get_config")
    garbled = fresh_copy(case, base, "W_latin1")
    garbled_config = garbled / "config.json"
    garbled_config.write_bytes(b"\xff\xfe" + garbled_config.read_bytes())
    for name, argv in (
        ("evaluate", disentax("evaluate", "--workdir", str(garbled), *FAST_METRICS)),
        ("train", train(garbled)),
    ):
        result = case.run(argv)
        case.clear_error(f"non-UTF-8 config.json, {name}: names the file", result, "config.json")
    case.fact(f"file without get_config: {case.said(loaded, 60)}")


def _evaluate_killed(case: Case, base: pathlib.Path, sig: signal.Signals) -> None:
    """``disentax evaluate`` in two processes, hit by ``sig`` while the second one scores."""
    workdir = fresh_copy(case, base)
    pattern = "disentax-eval-*"
    before = set(pathlib.Path(tempfile.gettempdir()).glob(pattern))
    tmp = case.dir / "tmp"  # the job's TMPDIR: anything left there is the job's
    tmp.mkdir()
    argv = disentax(
        "evaluate", "--workdir", str(workdir), "--metrics", "mig,beta_vae_score", "--workers", "2"
    )
    job = Job(argv, case.dir, f"eval_{sig.name}", env=env_with(TMPDIR=str(tmp)))
    seen = wait_for(
        lambda: (
            (descendants(job.pid) and "evaluating" in job.output()) or job.proc.poll() is not None
        ),
        180,
        interval=0.25,
    )
    time.sleep(3.0)  # the second process is scoring
    children = descendants(job.pid)
    running = job.proc.poll() is None
    if running:
        os.kill(job.pid, sig)
    result = case.add(
        job.wait(120, note=f"{sig.name} with {len(children)} child process(es) running")
    )
    if not case.check(
        f"{sig.name} arrived while the second process scored",
        seen and running and bool(children),
        f"children {children}",
    ):
        return
    time.sleep(2.0)
    orphans = [pid for pid, start in children if alive(pid, start)]
    case.check("evaluate ended", not result.timed_out, f"rc={result.rc}")
    case.check("no orphan scoring process", not orphans, f"still running {orphans}")
    left = sorted(p.name for p in tmp.iterdir())
    case.check("no temporary files left in its TMPDIR", not left, f"{left}")
    after = set(pathlib.Path(tempfile.gettempdir()).glob(pattern)) - before
    case.check(f"no new {pattern} in {tempfile.gettempdir()}", not after, f"{sorted(after)}")
    lock = workdir / ".lock"
    case.check(
        "the run folder's lock is free (a file left behind is no lock)",
        lock_free(lock),
        f"lock file left: {lock.exists()}",
    )
    for pid in orphans:  # ours: end it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    case.fact(
        f"{sig.name}: exit {result.rc}, {len(children)} child process(es), "
        f"{len(orphans)} left running, {len(left)} temp files left"
        + (", KeyboardInterrupt traceback printed" if result.traceback else "")
    )


def case_19_sigterm(case: Case, base: pathlib.Path) -> None:
    _evaluate_killed(case, base, signal.SIGTERM)


def case_19_sigint(case: Case, base: pathlib.Path) -> None:
    _evaluate_killed(case, base, signal.SIGINT)


def case_11_ctrl_c_compile(case: Case, base: pathlib.Path) -> None:
    workdir = case.dir / "W"
    job = Job(train(workdir), case.dir, "ctrl_c")
    seen = wait_for(lambda: "fresh start" in job.output() or job.proc.poll() is not None, 120)
    time.sleep(0.5)
    compiling = (
        job.proc.poll() is None
        and "first train step done" not in job.output()
        and last_logged_step(workdir) == 0
    )
    if compiling:
        os.kill(job.pid, signal.SIGINT)
    result = case.add(job.wait(120, note="SIGINT (Ctrl-C) after the start line, while compiling"))
    if not case.check("Ctrl-C arrived during the first compile", seen and compiling):
        return
    aborted = result.rc == -signal.SIGABRT or "FATAL" in result.text
    case.check("no abort (SIGABRT, FATAL)", not aborted, f"rc={result.rc}")
    case.check("ended", not result.timed_out, f"rc={result.rc}")
    saved = checkpoint_steps(workdir)
    again = case.run(train(workdir), timeout=240)
    start = resumed_from(again.text)
    case.check(
        "T afterwards: trains to 60 (fresh or from what was saved)",
        again.rc == 0 and trained_to(again.text) == 60 and (not saved or start == max(saved)),
        f"rc={again.rc}, checkpoints before {saved}, resumed from {start}",
    )
    check_log(case, workdir, 60)
    case.fact(
        f"Ctrl-C while compiling: exit {result.rc}"
        + (" with a KeyboardInterrupt traceback" if result.traceback else "")
        + f", checkpoints {saved}; T trained to {trained_to(again.text)}"
    )


def case_12_truncated(case: Case, base: pathlib.Path) -> None:
    workdir = fresh_copy(case, base)
    steps = checkpoint_steps(workdir)
    bad = steps[-1]
    files = [p for p in (workdir / "checkpoints" / str(bad)).rglob("*") if p.parent.name == "d"]
    target = max(files, key=lambda p: p.stat().st_size)
    half = target.stat().st_size // 2
    case.check("setup: truncate", case.run(["truncate", "-s", str(half), str(target)]).rc == 0)
    passed_over = r"checkpoint \d+ .*cannot be read"
    evaluate = case.run(
        disentax(
            "evaluate",
            "--workdir",
            str(workdir),
            "--metrics",
            "mig,beta_vae_score",
            "--workers",
            "2",
        ),
        timeout=300,
    )
    used = None
    if evaluate.rc == 0:
        record = json.loads((workdir / "evaluation.json").read_text())
        used, scores = record.get("step"), record.get("metrics", {})
        case.check(
            "evaluate (two processes): scores an older, intact step",
            used in steps[:-1]
            and {"mig", "beta_vae_score"} <= scores.keys()
            and not record.get("workers", {}).get("second_process", {}).get("failed", False),
            f"step {used}, scores {sorted(scores)}, workers {record.get('workers')}",
        )
    else:
        case.clear_error("evaluate (two processes): clear error", evaluate, reports=passed_over)
    explicit = case.run(disentax("traverse", "--workdir", str(workdir), "--step", str(bad)))
    case.clear_error(f"traverse --step {bad}: clear error", explicit, str(bad), reports=passed_over)
    fallback = case.run(disentax("traverse", "--workdir", str(workdir)), timeout=240)
    if fallback.rc == 0:
        case.check("traverse: falls back, says so", str(bad) in fallback.stderr, "")
    else:
        case.clear_error("traverse: clear error", fallback, reports=passed_over)
    case.fact(
        f"step {bad} truncated: evaluate exit {evaluate.rc} (scored step {used}), "
        f"traverse --step {bad} exit {explicit.rc} ({case.said(explicit, 50)}), "
        f"traverse exit {fallback.rc}"
    )


CASES = {
    "1a": ("mkdir checkpoints/999; T; T", case_1_foreign_step),
    "1b": ("empty newest step folder; T; T", case_1_empty_newest),
    "2": ("config.json edited to another num_latents", case_2_layout_change),
    "3": ("partial last log line, newest checkpoint removed; T; traverse", case_3_partial_log),
    "4a": ("train 2>&1 | head -2 (SIGPIPE); T", case_4_sigpipe),
    "4b": ("kill -HUP mid-run; T", case_4_sighup),
    "5": ("64 bytes overwritten in a checkpoint data file", case_5_overwritten),
    "6": ("two jobs on one workdir at once", case_6_two_trainings),
    "9": ("--config.seed=4294967296", case_9_seed),
    "10": ("kill -9 mid-run; resume; compare with an uninterrupted run", case_10_kill9),
    "11": ("Ctrl-C during the first compile; T", case_11_ctrl_c_compile),
    "12": (
        "a truncated checkpoint file: evaluate (2 processes), traverse --step",
        case_12_truncated,
    ),
    "13": ("read-only workdir: finished run, evaluate, traverse", case_13_read_only),
    "13f": ("a disk that fills up mid-run; T after space is freed", case_13_full_disk),
    "14": ("a file where the workdir goes", case_14_file_as_folder),
    "16": ("--config.batch_size=16384 (jit and pmap)", case_16_large_batch),
    "17": ("bad environment: allocator, platform; data show limits", case_17_environment),
    "18": (
        "--config.foo=1; a config file without get_config; non-UTF-8 config.json",
        case_18_config_input,
    ),
    "19": ("disentax evaluate (two processes) killed by SIGTERM", case_19_sigterm),
    "19i": ("disentax evaluate (two processes) interrupted (Ctrl-C, SIGINT)", case_19_sigint),
}


# ---------------------------------------------------------------------------- driver


def run_case(key: str, root: pathlib.Path, base: pathlib.Path) -> dict:
    title, function = CASES[key]
    case = Case(key, title, root)
    try:
        function(case, base)
    except Exception as err:  # noqa: BLE001 -- the campaign's own fault: reported, not a verdict
        return case.record(root, "ERROR", f"campaign error: {type(err).__name__}: {err}")
    for i, result in enumerate(case.results, 1):
        case.check(f"no traceback in command {i}", not result.traceback, result.traceback_summary())
        crashed = result.rc is not None and -result.rc in CRASH_SIGNALS
        case.check(
            f"no crash in command {i}",
            not crashed,
            f"died of {signal.Signals(-result.rc).name}" if crashed else "",
        )
    failed = [(n, d) for n, ok, d in case.checks if not ok]
    if failed:
        name, detail = failed[0]
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        context = f" | {'; '.join(case.facts)}" if case.facts else ""
        return case.record(root, "FAIL", f"{name}: {detail}{more}{context}")
    return case.record(
        root,
        "PASS",
        "; ".join(case.facts) or f"all {len(case.checks)} checks hold",
    )


def print_table(records: list[dict]) -> None:
    width = max(len(r["case"]) for r in records)
    print(f"\n{'case':<{width}}  verdict  reason")
    for r in records:
        print(f"{r['case']:<{width}}  {r['verdict']:<7}  {r['reason'][:160]}")


def git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/faults/campaign.json", help="JSON results")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case keys")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    keys = [k for k in args.cases.split(",") if k]
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; known: {list(CASES)}")
    if not os.access(DISENTAX, os.X_OK):
        parser.error(f"no disentax console script at {DISENTAX}")
    t0 = time.perf_counter()
    root = pathlib.Path(tempfile.mkdtemp(prefix="disentax-faults-"))
    records = []
    try:
        setup = Case("setup", "the issue's W: train a finished 60-step run", root)
        base = setup.dir / "W"
        result = setup.run(train(base), timeout=300)
        ok = result.rc == 0 and checkpoint_steps(base) and not result.traceback
        records.append(
            setup.record(
                root,
                "PASS" if ok else "ERROR",
                f"rc={result.rc}, checkpoints {checkpoint_steps(base)}",
            )
        )
        print(
            f"setup: rc={result.rc} in {result.seconds:.1f} s, "
            f"checkpoints {checkpoint_steps(base)}",
            flush=True,
        )
        if not ok:
            print(result.stderr[-2000:])
        for key in keys if ok else []:
            start = time.perf_counter()
            record = run_case(key, root, base)
            record["seconds"] = round(time.perf_counter() - start, 1)
            records.append(record)
            print(
                f"case {key}: {record['verdict']} in {record['seconds']} s: "
                f"{record['reason'][:200]}",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)
            shutil.rmtree(root, ignore_errors=True)
    wall = time.perf_counter() - t0
    print_table(records)
    print(f"\nwall time {wall:.0f} s")
    out = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "disentax_version": importlib.metadata.version("disentax"),
        "source_commit": git("rev-parse", "HEAD"),
        "source_modified": bool(git("status", "--porcelain", "--untracked-files=no", "disentax")),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "euid": os.geteuid(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "wall_seconds": round(wall, 1),
        "run_flags": SHORT,
        "cases": records,
    }
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 0 if all(r["verdict"] == "PASS" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
