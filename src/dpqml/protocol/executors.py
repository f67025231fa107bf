"""Where the protocol's jobs run: a local process pool (default) or a Ray cluster.

Both are thin adapters with one interface, so the sweep (:mod:`dpqml.protocol.runner`) owns the
scheduling, the database and the progress: ``submit(chunk)`` starts a list of jobs (run one
after another by one worker, see :func:`~dpqml.protocol.jobs.run_chunk`) and returns a handle;
``wait(handles, timeout)`` returns the finished ones; ``result(handle)`` their ``[(key, outcome)]``;
``workers`` is how many chunks run at once.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from urllib.parse import urlparse

from ..validation import check_choice
from .jobs import run_chunk

EXECUTORS = ("local", "ray")


def _watch_parent(parent: int) -> None:
    """In a worker: exit when the sweep that started it is gone (killed), so that no orphan goes on
    writing into a job directory that a resumed sweep is about to use."""

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class LocalExecutor:
    """A pool of ``workers`` fresh processes (``spawn``) on this machine."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self.description = f"local process pool, {self.workers} worker(s)"
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_watch_parent, initargs=(os.getpid(),))

    def submit(self, chunk):
        try:
            return self._pool.submit(run_chunk, chunk)
        except BrokenProcessPool:  # a worker died (killed, out of memory): its chunks fail, the sweep goes on
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(run_chunk, chunk)

    def wait(self, handles, timeout: float):
        return wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED).done

    def result(self, handle):
        return handle.result()

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down (once); ``cancel``: kill the workers now (their jobs resume from checkpoints)."""
        if self._pool is None:
            return
        if cancel:
            for p in list((self._pool._processes or {}).values()):
                p.kill()
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        self._pool = None


def _check_address(address: str) -> None:
    """Fail fast, before any job is marked as running, when nothing answers at ``address``."""
    url = urlparse(address if "://" in address else f"ray://{address}")
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ValueError(f"--address must be HOST:PORT or ray://HOST:PORT (or 'auto'); got {address!r}")
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as e:
        raise ValueError(f"--address {address}: no Ray cluster answers there ({e.strerror or e}); "
                         "nothing was run and the results database is unchanged") from None


class RayExecutor:
    """The same chunks as Ray tasks (one CPU each): on a new local Ray instance with ``workers``
    CPUs, or on the existing cluster at ``address`` (``HOST:PORT``, ``ray://HOST:PORT`` or
    ``auto``), whose Python environment must have dpqml installed."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray needs Ray: pip install 'dpqml[ray]'") from None
        if address and address != "auto":
            _check_address(address)
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            try:
                if address:
                    ray.init(address=address, **kwargs)
                else:
                    ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
            except (ConnectionError, RuntimeError, TimeoutError) as e:
                raise ValueError(f"Ray did not start{f' at --address {address}' if address else ''}: {e}; "
                                 "nothing was run") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(workers, cpus) if workers else cpus)
        where = f"cluster at {address}" if address else "local instance"
        self.description = f"Ray ({where}), {self.workers} worker(s)"
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_chunk)
        self._submitted = []

    def submit(self, chunk):
        ref = self._remote.remote(chunk)
        self._submitted.append(ref)
        return ref

    def wait(self, handles, timeout: float):
        ready, _ = self._ray.wait(list(handles), num_returns=1, timeout=timeout)
        return ready

    def result(self, handle):
        return self._ray.get(handle)

    def close(self, cancel: bool = False) -> None:
        """Let go of the cluster (once; shut down the instance this started); ``cancel``: stop the
        chunks still running (their jobs resume from checkpoints)."""
        if cancel:
            for ref in self._submitted:
                self._ray.cancel(ref, force=True)
        self._submitted = []
        if self._started:
            self._ray.shutdown()
            self._started = False


def make_executor(name: str, workers: int | None = None, address: str | None = None):
    """``local`` or ``ray`` (``address`` only with ``ray``)."""
    check_choice(name, "--executor", EXECUTORS)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers must be an integer >= 1; got {workers!r}")
    if name == "local":
        if address:
            raise ValueError("--address is for --executor ray")
        return LocalExecutor(workers)
    return RayExecutor(workers, address)
