"""Hostile input through the command line: every case ends with its documented exit code and one clear line.

Each row of ``CASES`` is a command line, the files it needs, the exit code it
must end with and substrings the message must hold; no row may print a
traceback.  Rows run in-process through Typer's runner; the cases that need
a real process (signals, the entry point, the environment) run
``sys.executable -m pspread`` with a timeout.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from pspread.execution.limits import worker_limit

ROOT = Path(__file__).resolve().parents[2]


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines + ["name: bomb"]) + "\n"


def _results(tmp: Path, phases: object) -> str:
    """A results file of the right version whose ``phases`` is ``phases``."""
    from pspread.results.run import SCHEMA_VERSION

    data = {"schema_version": SCHEMA_VERSION, "scenario_name": "x", "started_utc": "2026-01-01T00:00:00Z",
            "phases": phases}
    path = tmp / f"r{abs(hash(repr(phases)))}.json"
    path.write_text(json.dumps(data))
    return str(path)


def _gzip_truncated(tmp: Path) -> str:
    whole = gzip.compress(b"".join(b"%d\t%d\n" % (i, i + 1) for i in range(2000)))
    path = tmp / "cut.tsv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    return str(path)


def _bundle_with_input(tmp: Path) -> list[str]:
    """A real bundle folder with the edge list to convert inside it."""
    from pspread.engine.graph import Graph
    from pspread.engine.io import save_graph

    save_graph(Graph.from_edges([0, 1], [1, 2]), tmp / "b")
    (tmp / "b" / "in.tsv").write_text("1\t2\n")
    return ["graph", "convert", str(tmp / "b" / "in.tsv"), "-o", str(tmp / "b"), "--force"]


def _small_bundle(tmp: Path) -> str:
    from pspread.engine.graph import Graph
    from pspread.engine.io import save_graph

    return str(save_graph(Graph.from_edges([0, 1, 2], [1, 2, 0]), tmp / "small"))


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Path], list[str]]
    code: int
    says: tuple[str, ...]
    after: Callable[[Path], None] = field(default=lambda tmp: None)


def _write(name: str, text: str | bytes) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        path = tmp / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return str(path)
    return make


def _validate(name: str, text: str | bytes) -> Callable[[Path], list[str]]:
    return lambda tmp: ["scenarios", "validate", _write(name, text)(tmp)]


def _file_intact(name: str, text: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert (tmp / name).read_text() == text
    return check


MULTI = """name: multi
executor: {workers: 1000000000000}
phases:
  - {kind: constant, duration_s: 5s, clients: 4, rate_qps: -10}
"""

CASES = [
    # ------------------------------------------------------------ A: sizes and tracebacks
    Case("truncated-gzip", lambda t: ["graph", "convert", _gzip_truncated(t), "-o", str(t / "g")], 2, ("damaged",)),
    Case("huge-node-id", lambda t: ["graph", "convert", _write("big.tsv", "1\t2147483646\n")(t), "-o", str(t / "g")],
         2, ("2147483646", "--labels")),
    Case("generate-1e12-nodes", lambda t: ["graph", "generate", "er", "-n", "1000000000000", "--degree", "2", "-o",
                                           str(t / "g")], 2, ("int32",)),
    Case("generate-too-big-for-memory", lambda t: ["graph", "generate", "ba", "-n", "2000000000", "--degree", "1000",
                                                   "-o", str(t / "g")], 2, ("of memory", "available")),
    Case("probe-0", lambda t: ["stress", "--probe", "0"], 2, ("--probe 0s",)),
    Case("soak-0", lambda t: ["stress", "--soak", "0"], 2, ("--soak 0s",)),
    Case("soak-too-many-arrivals", lambda t: ["stress", "--soak", "160h", "--rate", "1000"], 2,
         ("arrivals",)),
    Case("rate-1e300", lambda t: ["run", "--rate", "1e300"], 2, ("rate_qps", "1000000")),
    Case("scheduler-not-a-url", lambda t: ["run", "--scheduler", "not a url"], 2, ("not a Dask scheduler address",)),
    Case("compare-phases-string", lambda t: ["compare", _results(t, []), _results(t, "abc")], 2, ("malformed",)),
    Case("compare-phases-numbers", lambda t: ["compare", _results(t, []), _results(t, [1, 2])], 2, ("malformed",)),
    Case("compare-deep-json", lambda t: ["compare", _results(t, []), _write("d.json", "[" * 100000 + "]" * 100000)(t)],
         2, ("not a readable JSON",)),
    Case("speedup-1e12-queries", lambda t: ["speedup", "--queries", "1000000000000"], 2, ("at most 1,000,000",)),
    Case("bench-1e12-queries", lambda t: ["bench", "kernels", _small_bundle(t), "--queries", "1000000000000"], 2,
         ("at most 1,000,000",)),
    # ------------------------------------------------------------ B: scenarios
    Case("scenario-1e12-workers", _validate("w.yaml", "executor: {workers: 1000000000000}\n"), 2, ("at most 1024",)),
    Case("scenario-all-errors-at-once", _validate("m.yaml", MULTI), 2,
         ("at most 1024", "greater than 0", "clients does not apply")),
    Case("scenario-empty", _validate("e.yaml", ""), 2, ("empty",)),
    Case("scenario-only-comments", _validate("c.yaml", "# nothing\n"), 2, ("empty",)),
    Case("scenario-too-many-arrivals", _validate("a.yaml", "phases: [{kind: constant, rate_qps: 1000000, "
                                                           "duration_s: 1h}]\n"), 2, ("arrivals",)),
    Case("scenario-negative-seed", _validate("s.yaml", "workload: {random_seed: -1}\n"), 2, ("random_seed",)),
    Case("scenario-huge-timeout", _validate("t.yaml", "workload: {timeout_s: 1e9}\n"), 2, ("timeout_s",)),
    # ------------------------------------------------------------ C: workers
    Case("workers-100000", lambda t: ["run", "--workers", "100000"], 2, ("at most 1024",)),
    Case("workers-past-cores", lambda t: ["run", "--workers", str(worker_limit() + 1)], 2, ("allowed here",)),
    # ------------------------------------------------------------ D: YAML
    Case("yaml-alias-bomb", _validate("b.yaml", _bomb()), 2, ("alias bomb",)),
    Case("yaml-recursive-alias", _validate("r.yaml", "a: &x [*x]\nname: r\n"), 2, ("recursive alias",)),
    Case("yaml-deep-flow", _validate("d.yaml", "a: " + "[" * 50000 + "]" * 50000 + "\n"), 2, ("nested more than",)),
    Case("yaml-deep-block", _validate("k.yaml", "".join(" " * i + f"k{i}:\n" for i in range(40)) + " " * 40 + "v\n"),
         2, ("nested more than",)),
    Case("yaml-too-large", _validate("l.yaml", "# " + "x" * (1 << 20) + "\n"), 2, ("too large",)),
    Case("yaml-not-utf8", _validate("u.yaml", "name: caf\xe9\n".encode("latin-1")), 2, ("not UTF-8", "0xe9")),
    # ------------------------------------------------------------ E: --force
    Case("force-onto-the-input", lambda t: ["graph", "convert", _write("in.tsv", "1\t2\n")(t), "-o", str(t / "in.tsv"),
                                            "--force"], 2, ("is a file",), _file_intact("in.tsv", "1\t2\n")),
    Case("force-onto-a-file", lambda t: ["graph", "convert", _write("in.tsv", "1\t2\n")(t), "-o",
                                         _write("keep.txt", "mine")(t), "--force"], 2, ("is a file",),
         _file_intact("keep.txt", "mine")),
    Case("force-onto-a-folder", lambda t: ["graph", "convert", _write("in.tsv", "1\t2\n")(t), "-o", str(t), "--force"],
         2, ("not a graph bundle",), _file_intact("in.tsv", "1\t2\n")),
    Case("force-onto-the-bundle-holding-the-input", _bundle_with_input, 2, ("holds the input",),
         _file_intact("b/in.tsv", "1\t2\n")),
    Case("force-onto-dev-null", lambda t: ["graph", "generate", "er", "-n", "10", "--degree", "2", "-o", os.devnull,
                                           "--force"], 2, ("is a file",),
         lambda t: None if stat.S_ISCHR(os.stat(os.devnull).st_mode) else pytest.fail("/dev/null replaced")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_ends_with_one_clear_line(app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                case: Case) -> None:
    monkeypatch.chdir(tmp_path)  # a results file, if one were written, lands here
    argv = case.argv(tmp_path)
    res = CliRunner().invoke(app, argv)
    out = res.output or ""
    assert res.exit_code == case.code, out
    assert "Traceback" not in out and (res.exception is None or isinstance(res.exception, SystemExit)), out
    assert out.startswith("error: ") or out.startswith("FAIL"), out
    for text in case.says:
        assert text in out, out
    assert not list(tmp_path.glob("results/*.json")), "nothing may run before the input is refused"
    case.after(tmp_path)


# ------------------------------------------------------------------ real processes
def _pspread(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pspread", *args], capture_output=True, text=True, env=full,
                          timeout=timeout)


@pytest.mark.slow
def test_help_works_without_a_writable_home(tmp_path: Path) -> None:
    res = _pspread("graph", "--help", env={"HOME": str(tmp_path / "missing")})
    assert res.returncode == 0 and "Traceback" not in res.stderr and "generate" in res.stdout


def test_numba_cache_falls_back_to_a_temp_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import pspread

    env: dict[str, str] = {}
    monkeypatch.setattr(pspread, "_writable", lambda folder: False)
    folder = pspread.numba_cache_fallback(env)
    assert folder is not None and env["NUMBA_CACHE_DIR"] == folder and "pspread-numba-cache" in folder
    assert pspread.numba_cache_fallback({"NUMBA_CACHE_DIR": "/x"}) is None  # the user's own choice stays


@pytest.mark.slow
def test_ctrl_c_while_importing_ends_with_130_and_one_line(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import types

    from pspread.cli import entry

    class Interrupting(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "pspread.cli.app", Interrupting("pspread.cli.app"))
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # leave this process's handlers alone
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 130 and capsys.readouterr().err.strip() == "interrupted"


@pytest.mark.slow
def test_an_unexpected_exception_is_one_line_and_exit_70(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import types

    from pspread.cli import entry

    class Broken(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("boom")

    monkeypatch.delenv("PSPREAD_DEBUG", raising=False)
    monkeypatch.setitem(sys.modules, "pspread.cli.app", Broken("pspread.cli.app"))
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    with pytest.raises(SystemExit) as info:
        entry.main()
    err = capsys.readouterr().err
    assert info.value.code == entry.EXIT_INTERNAL and "RuntimeError: boom" in err and len(err.splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path: Path, sig: int, code: int) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text("name: long\ngraph: {generate: {kind: barabasi-albert, nodes: 2000, degree: 3}}\n"
                        "executor: {workers: 1}\nphases: [{kind: constant, rate_qps: 20, duration_s: 60s}]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "pspread", "run", str(scenario), "--plain", "--results-dir",
                             str(tmp_path / "res")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        for _ in range(3):  # --plain prints a line a second once the phase runs
            proc.stdout.readline()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "interrupted" in err and "leaked" not in err  # no semaphore left either
    (written,) = list((tmp_path / "res").glob("*.json"))
    assert json.loads(written.read_text())["status"] == "interrupted"
    import tempfile

    assert not list(Path(tempfile.gettempdir()).glob(f"pspread-*{proc.pid}-*")), "temp folders left behind"


@pytest.mark.slow
def test_stale_temp_folders_of_dead_owners_are_swept(tmp_path: Path) -> None:
    from pspread.engine.tempdirs import owned_tempdir, sweep_stale

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"pspread-graph-{int(dead.stdout)}-abc"
    stale.mkdir()
    (stale / "indptr.npy").write_bytes(b"x")
    alive = tmp_path / f"pspread-graph-{os.getppid()}-def"  # our parent is alive: its folder stays
    alive.mkdir()
    mine = owned_tempdir("pspread-graph-", tmp_path)
    assert not stale.exists() and alive.exists() and mine.name.startswith(f"pspread-graph-{os.getpid()}-")
    assert sweep_stale("pspread-graph-", tmp_path) == []  # nothing else stale; our own folder untouched
    assert mine.exists()


@pytest.mark.slow
def test_a_server_that_is_not_dask_is_refused_within_the_timeout() -> None:
    pytest.importorskip("distributed")
    import socket

    from pspread.errors import RunAborted
    from pspread.execution.dask_cluster import probe_scheduler

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)  # accepts connections, never speaks Dask's protocol
        port = server.getsockname()[1]
        with pytest.raises(RunAborted, match="Dask scheduler"):
            probe_scheduler(f"tcp://127.0.0.1:{port}", 1.0)
