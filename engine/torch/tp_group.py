"""The tensor-parallel rank processes, seen from the daemon: start, step, watch, restart.

The daemon process itself is no rank. It spawns ``world_size`` processes
(``tp_worker.run_rank``), hosts their rendezvous (a TCPStore listening on 127.0.0.1 only) and
talks to rank 0 over a pipe. Every wait on the group also waits on the processes' exit
sentinels and has a deadline, so a dead or stuck rank becomes a :class:`TensorParallelError`
within ``step_timeout_s`` (at once, for a rank that died), never a hang. A failed group is
killed whole and reports itself unhealthy until ``restart()``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from codegend.engine.errors import CodegendError, ModelSourceError
from codegend.engine.torch.tp_worker import ERROR, FEED, LOGITS, READY, STOP, RankSpec, run_rank

log = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "bfloat16")
# Modules the rank processes need, imported once by the forkserver they are forked from
# ("__main__" too, so ranks do not each re-run the main script, as multiprocessing would).
RANK_PRELOAD = (
    "__main__", "torch", "torch.distributed", "codegend.engine.torch.tp_worker",
    "codegend.engine.torch.codegen", "codegend.engine.torch.tp",
    "codegend.engine.torch.int8_linear", "codegend.engine.torch.checkpoint",
    "codegend.engine.torch.static_decode",
)


class TensorParallelError(CodegendError):
    """The tensor-parallel group failed (a rank died, hung or raised); restart it."""


@dataclass(frozen=True)
class TPGroupConfig:
    model_dir: Path  # a Hugging Face CodeGen directory
    world_size: int  # number of ranks (GPUs on cuda)
    device: str = "cpu"  # "cpu" (gloo) or "cuda" (NCCL)
    dtype: str | None = None  # one of DTYPES; None: float32 on cpu, float16 on cuda
    int8_weights: bool = False  # weight-only int8 linears in the blocks
    max_positions: int | None = None  # KV cache length; None: the model's n_positions
    step_timeout_s: float = 60.0  # longest a single step may take before the group is failed
    load_timeout_s: float = 900.0  # longest loading the shards may take
    threads_per_rank: int | None = None  # CPU threads per rank; None: cores / world_size
    # One-token steps through torch.compile (CUDA graphs on GPUs); None: on cuda only.
    compile_decode: bool | None = None


class TPGroup:
    """The running ranks. One request at a time (a lock serializes steps)."""

    def __init__(self, config: TPGroupConfig) -> None:
        self.config = config
        self.vocab_size = 0
        self.max_positions = 0
        self.decode_mode = "eager"  # how rank 0 runs one-token steps (static_decode's mode)
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._conns: list[Connection] = []
        self._store = None  # the rendezvous TCPStore; lives as long as the group
        self._failure: str | None = "not started"
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the ranks and wait until every one holds its shard."""
        spec = self._rank_spec()
        context = _rank_process_context()
        try:
            for rank in range(self.config.world_size):
                parent_end, child_end = context.Pipe()
                process = context.Process(
                    target=run_rank, args=(rank, spec, child_end), daemon=True,
                    name=f"codegend-tp-rank{rank}",
                )
                self._conns.append(parent_end)
                process.start()
                child_end.close()  # so a dead rank's pipe reads as closed
                self._processes.append(process)
        except BaseException:
            self._kill_all()  # no half-started group left behind
            raise
        self._failure = None
        pending = set(range(self.config.world_size))
        while pending:
            rank, message = self._next_message(self.config.load_timeout_s, "loading the model")
            if message[0] != READY:
                self._fail(f"rank {rank} sent {message[0]!r} while loading")
            pending.discard(rank)
            if rank == 0:
                self.vocab_size = int(message[1]["vocab_size"])
                self.max_positions = int(message[1]["max_len"])
                self.decode_mode = str(message[1].get("decode", "eager"))

    def restart(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        """Stop the ranks (politely if they are healthy) and forget them."""
        with self._lock:
            if self._processes and self._failure is None and self._all_alive():
                try:
                    self._conns[0].send((STOP,))
                except OSError:
                    pass
                for process in self._processes:
                    process.join(timeout=10)
            self._kill_all()
            self._failure = self._failure or "closed"

    # -- health ---------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        if self._failure is None and not self._all_alive():
            self._failure = self._describe_exits() or "no rank processes"
        return self._failure is None

    @property
    def failure(self) -> str | None:
        """Why the group is unusable (None while healthy)."""
        return None if self.healthy else self._failure

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process.pid is not None]

    # -- stepping -------------------------------------------------------------------------

    def step(self, start: int, token_ids: list[int]) -> np.ndarray:
        """Run ``token_ids`` at positions ``start...`` on every rank; rank 0's last logits."""
        with self._lock:
            if not self.healthy:
                raise TensorParallelError(f"tensor-parallel group unavailable: {self._failure}")
            try:
                self._conns[0].send((FEED, start, list(token_ids)))
            except OSError as err:
                self._fail(f"rank 0 is unreachable ({err})")
            rank, message = self._next_message(self.config.step_timeout_s, "running a step")
            if rank != 0 or message[0] != LOGITS:
                self._fail(f"rank {rank} sent {message[0]!r} during a step")
            return message[1]

    # -- internals ------------------------------------------------------------------------

    def _rank_spec(self) -> RankSpec:
        from codegend.engine.torch.codegen import CodeGenShape
        from codegend.engine.torch.tp import check_tp_shape

        config = self.config
        model_dir = Path(config.model_dir)
        shape = CodeGenShape.from_model_dir(model_dir)
        check_tp_shape(shape, config.world_size, str(model_dir))
        if config.device not in ("cpu", "cuda"):
            raise ModelSourceError(f"device must be 'cpu' or 'cuda' (got {config.device!r})")
        dtype = config.dtype or ("float16" if config.device == "cuda" else "float32")
        if dtype not in DTYPES:
            raise ModelSourceError(f"dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
        if config.device == "cuda":
            _check_gpus(config.world_size)
        self._store = _loopback_store()
        threads = config.threads_per_rank or max(1, (os.cpu_count() or 1) // config.world_size)
        return RankSpec(
            model_dir=model_dir,
            world_size=config.world_size,
            device=config.device,
            dtype=dtype,
            int8_weights=config.int8_weights,
            max_positions=min(config.max_positions or shape.n_positions, shape.n_positions),
            store_port=self._store.port,
            step_timeout_s=config.step_timeout_s,
            threads=threads,
            compile_decode=config.device == "cuda" if config.compile_decode is None
            else config.compile_decode,
        )

    def _next_message(self, timeout_s: float, doing: str) -> tuple[int, tuple]:
        """The next message from any rank; fails the group on an error, an exit or a timeout."""
        deadline = time.monotonic() + timeout_s
        sentinels = [process.sentinel for process in self._processes]
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(f"no answer within {timeout_s:g} s while {doing}")
            ready = wait([*self._conns, *sentinels], timeout=remaining)
            for rank, conn in enumerate(self._conns):
                message = _receive(conn) if conn in ready else None
                if message is not None and message[0] != ERROR:
                    return rank, message
                if message is not None:
                    log.warning("tensor-parallel %s\n%s", message[1], message[2])
                    time.sleep(0.1)  # a peer's death often causes the error: let it show
                    self._fail(self._with_exits(f"{message[1]} while {doing}"))
            if any(sentinel in ready for sentinel in sentinels):
                time.sleep(0.1)  # the dying rank's own error message, if any, comes first
                errors = [m[1] for c in self._conns if (m := _receive(c)) and m[0] == ERROR]
                self._fail(self._with_exits(f"{' / '.join(errors) or 'no error message'} "
                                            f"while {doing}"))

    def _fail(self, reason: str):
        log.error("tensor-parallel group failed: %s", reason)
        self._failure = reason
        self._kill_all()
        raise TensorParallelError(f"tensor-parallel group failed: {reason}")

    def _all_alive(self) -> bool:
        return bool(self._processes) and all(p.is_alive() for p in self._processes)

    def _with_exits(self, reason: str) -> str:
        exits = self._describe_exits()
        return f"{exits}: {reason}" if exits else reason

    def _describe_exits(self) -> str:
        exits = []
        for rank, process in enumerate(self._processes):
            code = process.exitcode
            if code is None:
                continue
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            exits.append(f"rank {rank} (pid {process.pid}) exited ({how})")
        return "; ".join(exits)

    def _kill_all(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.kill()
        for process in self._processes:
            process.join(timeout=10)
        for conn in self._conns:
            conn.close()
        self._processes, self._conns, self._store = [], [], None


def _rank_process_context() -> multiprocessing.context.BaseContext:
    """How rank processes start: forked from a clean server that has imported torch once.

    A plain fork of the daemon is unsafe (its threads, possibly CUDA); a spawn re-imports
    torch in every rank (seconds each). The forkserver is a fresh single-threaded process
    that never touches CUDA, so forking it is safe, and it imports torch only once per daemon.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Only takes effect when the server first starts; the same list every time.
    context.set_forkserver_preload(list(RANK_PRELOAD))
    return context


def _receive(conn: Connection) -> tuple | None:
    """A waiting message, or None (nothing there, or the pipe closed with its process)."""
    try:
        return conn.recv() if conn.poll(0) else None
    except (EOFError, OSError):
        return None


def _loopback_store():
    """A TCPStore for the ranks' rendezvous, listening on 127.0.0.1 only, on a free port."""
    import torch.distributed as dist

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    store = dist.TCPStore(
        "127.0.0.1", listener.getsockname()[1], is_master=True, wait_for_workers=False,
        master_listen_fd=listener.detach(), timeout=timedelta(seconds=60),
    )
    return store


def _check_gpus(world_size: int) -> None:
    import torch
    import torch.distributed as dist

    count = torch.cuda.device_count()
    if count < world_size:
        raise ModelSourceError(
            f"world_size={world_size} needs {world_size} CUDA GPUs; this host has {count}"
        )
    if not dist.is_nccl_available():
        raise ModelSourceError("this torch build has no NCCL: use device 'cpu' or a CUDA torch")
