"""The ``DaskExecutor``'s link to a Dask cluster: start or join it, install the graph holders, talk to workers.

``ClusterLink`` knows *where* the workers are and how to reach them; which
queries go where is the executor's business (``pspread.execution.dask``).

* ``scheduler=None``: a ``LocalCluster`` of worker processes (one thread each)
  bound to 127.0.0.1, without dashboard -- the scheduler's small HTTP server is
  on a free loopback port -- and stopped by ``close``;
* an address: joined as given (TLS and credentials from Dask's configuration),
  with a short connect timeout; unreachable is a ``RunAborted`` naming it;
* the graph holder (``GraphHolder``) is registered as a worker plugin, so every
  worker -- also one that joins later -- opens the bundle once; a worker that
  cannot read the path is sent the bundle's files, once;
* batches travel over Dask's own connections (so its TLS settings apply),
  straight to the worker, not through the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pspread.engine.tempdirs import owned_tempdir
from pspread.errors import ExecutorError, RunAborted
from pspread.execution.worker import THREAD_ENV

INSTALL_HINT = "the dask executor needs `pip install 'pspread[dask]'`"

#: Dask settings of a local cluster: periodic machinery pspread does not use, off or slowed.  Idle, a
#: default local cluster of two workers costs about 13 % of a core (scheduler, nannies, workers); with
#: these about 4 %, and under load that CPU is taken from the workers.
LOCAL_CONFIG = {
    "distributed.worker.profile.enabled": False,  # samples every worker's stacks every 10 ms
    "distributed.admin.tick.interval": "1s",  # the event-loop watchdog, every 20 ms on every server
    "distributed.admin.system-monitor.interval": "2s",  # CPU/memory/network samples, every 500 ms
    "distributed.scheduler.work-stealing": False,  # pspread places queries itself; there are no tasks
    "distributed.worker.memory.monitor-interval": "1s",  # memory_limit_mb is checked every second
}


def handler_names(token: str) -> dict[str, str]:
    """The RPC operation names of one executor's graph holders (the token lets executors share a cluster)."""
    return {"hello": f"pspread_hello_{token}", "file": f"pspread_file_{token}", "answer": f"pspread_answer_{token}"}


#: a scheduler address: ``[protocol://]host:port``, the forms Dask's comms take
_ADDRESS = re.compile(r"(?:(?P<proto>tcp|tls|ws|wss|ucx)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})")


class SchedulerAddressError(ExecutorError):
    """A scheduler address that cannot be one (exit 2: fix the address)."""

    exit_code = 2


def check_scheduler_address(address: str) -> str:
    """The address stripped, or ``SchedulerAddressError`` saying the form Dask expects."""
    text = str(address).strip()
    match = _ADDRESS.fullmatch(text)
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise SchedulerAddressError(f"--scheduler {address!r} is not a Dask scheduler address; write "
                                    "tcp://host:port (or tls://host:port), e.g. tcp://10.0.0.5:8786")
    return text


async def _identity(address: str, timeout_s: float) -> Any:
    """Connect, ask the server who it is, and hang up: the whole exchange within ``timeout_s``."""
    from distributed.comm import connect
    from distributed.security import Security

    args = Security().get_connection_args("client")
    comm = await connect(address, timeout=timeout_s, **args)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def probe_scheduler(address: str, timeout_s: float) -> None:
    """``RunAborted`` unless a Dask scheduler answers at ``address`` within ``timeout_s`` seconds.

    ``distributed.Client`` retries a server that accepts connections but does
    not speak Dask's protocol (a web server, say) for minutes; one identity
    request under a hard deadline tells at once.  Runs in its own thread, so
    it works whether or not the caller has an event loop running.
    """
    outcome: list[Any] = []

    def ask() -> None:
        try:
            outcome.append(asyncio.run(asyncio.wait_for(_identity(address, timeout_s), timeout_s)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    thread = threading.Thread(target=ask, name="pspread-dask-probe", daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    reply = outcome[0] if outcome else TimeoutError(f"no answer within {timeout_s:g} s")
    hint = ("check the address, that the scheduler runs and that this machine may connect to it "
            "(TLS settings come from Dask's configuration)")
    if isinstance(reply, BaseException):
        why = f"{type(reply).__name__}: {reply}" if str(reply) else type(reply).__name__
        raise RunAborted(f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({why}); {hint}")
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise RunAborted(f"{address} answered, but it is not a Dask scheduler; {hint}")


def import_distributed() -> Any:
    """``distributed``, or an ``ExecutorError`` saying how to install it (Dask is an optional extra)."""
    try:
        import distributed
    except ImportError:
        raise ExecutorError(INSTALL_HINT) from None
    return distributed


class ClusterLink:
    """A started (or joined) Dask cluster with a graph holder on every worker.

    ``start()`` returns ``[(address, hello), ...]`` for the workers to use;
    ``answer(address, payload)`` sends one pickled batch; ``listed()`` is the
    scheduler's current set of worker addresses; ``close()`` leaves a joined
    cluster as it found it (holders removed) and stops a local one.
    """

    def __init__(self, graph_path: str, scheduler: str | None, workers: int, model: Any, kernel: str,
                 ship_graph: bool, memory_limit_mb: float | None, connect_timeout_s: float,
                 start_timeout_s: float, worker_init: str | None = None) -> None:
        self.graph_path = graph_path
        self.worker_init = worker_init
        self.scheduler = scheduler
        self.workers = workers
        self.model = model
        self.kernel = kernel
        self.ship_graph = ship_graph
        self.memory_limit_mb = memory_limit_mb
        self.connect_timeout_s = connect_timeout_s
        self.start_timeout_s = start_timeout_s
        self.token = uuid.uuid4().hex[:12]
        self.ops = handler_names(self.token)
        self.cluster: Any = None
        self.client: Any = None
        #: seconds the cluster took to come up (client connected), and to stop
        self.start_s = 0.0
        self.stop_s = 0.0
        self._closed = False
        self._scratch: str | None = None

    @property
    def local(self) -> bool:
        return self.scheduler is None

    @property
    def loop(self) -> Any:
        """The client's event loop (a tornado IOLoop; ``add_callback`` is thread-safe)."""
        return self.client.loop

    @property
    def address(self) -> str:
        """The scheduler's address (the local cluster's, once started)."""
        return self.cluster.scheduler_address if self.cluster is not None else str(self.scheduler)

    # ------------------------------------------------------------ starting
    def start(self) -> list[tuple[str, dict[str, Any]]]:
        distributed = import_distributed()
        t0 = time.perf_counter()
        if self.scheduler is None:
            import dask

            env = {k: "1" for k in THREAD_ENV}
            # the cluster's scratch folders in one folder of ours, removed by close()
            self._scratch = str(owned_tempdir("pspread-dask-"))  # by pid: swept once its owner is gone
            try:
                with dask.config.set({"temporary-directory": self._scratch, **LOCAL_CONFIG}):
                    self.cluster = distributed.LocalCluster(
                        n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        scheduler_port=0, dashboard_address=None, worker_dashboard_address=None,
                        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                        silence_logs=logging.ERROR, env=env, local_directory=self._scratch,
                        memory_limit=0 if self.memory_limit_mb is None else int(self.memory_limit_mb * 2**20))
            except Exception as exc:  # noqa: BLE001 - Dask raises RuntimeError/OSError/TimeoutError here
                raise ExecutorError(f"the local Dask cluster could not start ({type(exc).__name__}: {exc}); worker "
                                    "processes are spawned, so a script that starts one needs "
                                    "`if __name__ == '__main__':`") from None
            self.client = distributed.Client(self.cluster, set_as_default=False,
                                             timeout=f"{max(self.connect_timeout_s, 10.0)}s")
        else:
            self.scheduler = check_scheduler_address(str(self.scheduler))
            probe_scheduler(self.scheduler, self.connect_timeout_s)
            try:
                self.client = distributed.Client(self.scheduler, set_as_default=False,
                                                 timeout=f"{self.connect_timeout_s}s")
            except (OSError, TimeoutError) as exc:
                raise RunAborted(f"cannot reach the Dask scheduler at {self.scheduler} within "
                                 f"{self.connect_timeout_s:g} s ({exc}); check the address, that the scheduler "
                                 "runs and that this machine may connect to it (TLS settings come from Dask's "
                                 "configuration)") from None
        self.start_s = time.perf_counter() - t0
        from pspread.execution.dask_worker import GraphHolder

        on_workers = None if self.ship_graph else self.graph_path
        try:
            self.client.register_plugin(GraphHolder(on_workers, self.model, self.kernel, self.token,
                                                     self.worker_init))
        except Exception as exc:  # noqa: BLE001 - e.g. pspread missing on the workers
            raise ExecutorError(f"could not set up the graph holder on the Dask workers ({type(exc).__name__}: "
                                f"{exc}); every worker needs pspread installed, the same version as here") from None
        want = self.workers if self.local else 1
        try:
            self.client.wait_for_workers(want, timeout=self.start_timeout_s)
        except (TimeoutError, OSError) as exc:
            raise ExecutorError(f"no Dask worker joined {self.scheduler or 'the local cluster'} within "
                                f"{self.start_timeout_s:g} s ({exc})") from None
        addresses = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        hellos = self.client.sync(self._greet_all, addresses)
        return list(zip(addresses, hellos))

    async def _greet_all(self, addresses: list[str]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.greet(a) for a in addresses)))

    async def greet(self, address: str) -> dict[str, Any]:
        """Ask a worker's holder how it is; ship the bundle when it cannot open the path; fail clearly."""
        rpc = self.client.rpc(address)
        hello = await asyncio.wait_for(getattr(rpc, self.ops["hello"])(), self.start_timeout_s)
        if hello["state"] == "need-bundle":
            await self._ship(rpc)
            hello = await asyncio.wait_for(getattr(rpc, self.ops["hello"])(open_shipped=True), self.start_timeout_s)
        if hello["state"] != "ready":
            raise ExecutorError(f"Dask worker {address} cannot open the graph {self.graph_path}: {hello['error']}")
        return dict(hello)

    async def _ship(self, rpc: Any) -> None:
        """Send every file of the bundle to one worker, one message per file (once per worker)."""
        folder = Path(self.graph_path)
        if not folder.is_dir():
            raise ExecutorError(f"{self.graph_path}: the Dask workers cannot read this bundle and it is not here "
                                "to send either; give a bundle path that exists on this machine or on the workers")
        for f in sorted(folder.iterdir()):
            if f.is_file():
                reply = await getattr(rpc, self.ops["file"])(name=f.name, data=f.read_bytes())
                if reply != "ok":
                    raise ExecutorError(f"shipping {f} to a Dask worker failed: {reply}")

    # ------------------------------------------------------------- running
    async def answer(self, address: str, payload: bytes) -> bytes:
        """One pickled batch to one worker's holder, straight (not via the scheduler); its pickled answers."""
        answer: bytes = await getattr(self.client.rpc(address), self.ops["answer"])(payload=payload)
        return answer

    async def listed(self) -> set[str]:
        """The worker addresses the scheduler knows now."""
        info = await self.client.scheduler.identity(n_workers=-1)
        return set(info.get("workers", {}))

    # ------------------------------------------------------------- closing
    def close(self) -> None:
        """Remove this link's holders from a joined cluster, or stop the local one; idempotent."""
        if self._closed:
            return
        self._closed = True
        t0 = time.perf_counter()
        client, cluster = self.client, self.cluster
        try:
            if client is not None and cluster is None:
                try:  # a shared cluster: free the replicas and handlers this link added
                    client.unregister_worker_plugin(f"pspread-graph-{self.token}")
                except Exception:  # noqa: BLE001
                    pass
        finally:
            try:
                if client is not None:
                    client.close(timeout=10)
            except Exception:  # noqa: BLE001 - the cluster still has to go
                pass
            try:
                if cluster is not None:
                    cluster.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
            self.stop_s = time.perf_counter() - t0


__all__ = ["ClusterLink", "INSTALL_HINT", "handler_names", "import_distributed", "check_scheduler_address",
           "probe_scheduler", "SchedulerAddressError"]
