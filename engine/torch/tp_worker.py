"""One rank of the tensor-parallel group: load a shard, then step whenever rank 0 says so.

Rank 0 is the only rank the daemon talks to (over a pipe). For each request it broadcasts a
small header and the token ids to the other ranks, every rank runs the same step on its
shard, and rank 0 sends the gathered logits back. Between requests every rank waits in the
header broadcast, so a cancelled generation simply sends no further step: all ranks stop
within the step they are in.

Control messages travel on a gloo group whose timeout is effectively infinite (an idle
daemon must not time out); the model's collectives use the bounded ``step_timeout_s`` so a
dead peer turns into an error instead of a hang. The parent also watches the processes.

With ``compile_decode`` a one-token step runs the compiled static step
(``static_decode``; a CUDA graph on GPUs), compiled and warmed up before the rank reports
ready, so no request pays for it; prompts run eagerly.
"""

from __future__ import annotations

import os
import socket
import traceback
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path

# Message kinds on the pipes (tuples whose first item is the kind).
READY, FEED, LOGITS, ERROR, STOP = "ready", "feed", "logits", "error", "stop"
_OP_STOP, _OP_FEED = 0, 1
_IDLE_TIMEOUT = timedelta(days=365)  # waiting for the next request is not a failure


@dataclass(frozen=True)
class RankSpec:
    """Everything a rank needs; pickled into each spawned process."""

    model_dir: Path
    world_size: int
    device: str  # "cpu" (gloo) or "cuda" (NCCL, rank r on cuda:r)
    dtype: str  # "float32" | "float16" | "bfloat16"
    int8_weights: bool  # weight-only int8 linears inside the blocks
    max_positions: int  # KV cache length
    store_port: int  # the parent's TCPStore on 127.0.0.1
    step_timeout_s: float  # bound on every model collective
    threads: int  # intra-op CPU threads of this rank
    compile_decode: bool = False  # one-token steps through the compiled static step


def loopback_interface() -> str | None:
    """The loopback interface name (``lo`` on Linux, ``lo0`` on macOS), for gloo/NCCL."""
    names = [name for _, name in socket.if_nameindex()]
    return next((name for name in ("lo", "lo0") if name in names), None)


def run_rank(rank: int, spec: RankSpec, conn: Connection) -> None:
    """Process entry point. Errors are reported on ``conn`` before the process exits."""
    interface = loopback_interface()
    if interface is not None:  # keep gloo's and NCCL's sockets on loopback
        os.environ.setdefault("GLOO_SOCKET_IFNAME", interface)
        os.environ.setdefault("NCCL_SOCKET_IFNAME", interface)
    try:
        _serve(rank, spec, conn)
    except BaseException as err:  # report anything, then exit non-zero
        try:
            conn.send((ERROR, f"rank {rank}: {type(err).__name__}: {err}", traceback.format_exc()))
        except OSError:
            pass
        raise SystemExit(1) from None


def _serve(rank: int, spec: RankSpec, conn: Connection) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(spec.threads)
    device = torch.device(f"cuda:{rank}" if spec.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    store = dist.TCPStore(
        "127.0.0.1", spec.store_port, is_master=False, timeout=timedelta(seconds=60)
    )
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        store=store,
        rank=rank,
        world_size=spec.world_size,
        timeout=timedelta(seconds=spec.step_timeout_s),
    )
    control = dist.new_group(backend="gloo", timeout=_IDLE_TIMEOUT)
    try:
        model = _load_shard(rank, spec, device)
        with torch.inference_mode():
            decoder = _decoder(model, spec.compile_decode)
            dist.barrier(group=control)
            conn.send((READY, {"vocab_size": model.shape.vocab_size, "max_len": model.max_len,
                               "decode": decoder.mode if decoder else "eager"}))
            _step_loop(rank, model, decoder, conn, control, device)
    finally:
        dist.destroy_process_group()


def _load_shard(rank: int, spec: RankSpec, device):
    import torch

    from codegend.engine.torch.checkpoint import read_hf_weights
    from codegend.engine.torch.codegen import CodeGenShape, assign_weights, codegen_on_meta
    from codegend.engine.torch.int8_linear import quantize_block_linears
    from codegend.engine.torch.tp import apply_tp

    model = codegen_on_meta(CodeGenShape.from_model_dir(spec.model_dir))
    assign_weights(model, read_hf_weights(spec.model_dir), str(spec.model_dir))
    apply_tp(model, rank, spec.world_size)  # copies only this rank's shard out of the mapping
    model = model.to(device=device, dtype=getattr(torch, spec.dtype))
    if spec.int8_weights:
        quantize_block_linears(model)
    model.setup_caches(spec.max_positions)
    return model


def _decoder(model, compile_decode: bool):
    """The compiled one-token step, compiled now (every rank at once: the collectives inside
    it run in step), or None for the eager path."""
    if not compile_decode:
        return None
    from codegend.engine.torch.static_decode import StaticDecoder

    decoder = StaticDecoder(model, compile=True)
    decoder.warm_up()
    return decoder


def _step_loop(rank: int, model, decoder, conn: Connection, control, device) -> None:
    import torch
    import torch.distributed as dist

    header = torch.zeros(3, dtype=torch.long)  # op, start position, token count
    while True:
        if rank == 0:
            try:
                message = conn.recv()
            except EOFError:  # the parent is gone: take the group down with us
                message = (STOP,)
            if message[0] == FEED:
                _, start, token_ids = message
                header[:] = torch.tensor([_OP_FEED, start, len(token_ids)])
            else:
                header[:] = torch.tensor([_OP_STOP, 0, 0])
        dist.broadcast(header, src=0, group=control)
        op, start, count = (int(v) for v in header)
        if op == _OP_STOP:
            return
        tokens = torch.empty(count, dtype=torch.long)
        if rank == 0:
            tokens[:] = torch.tensor(token_ids, dtype=torch.long)
        dist.broadcast(tokens, src=0, group=control)
        if decoder is not None and count == 1:
            logits = decoder(tokens.to(device), start)
        else:
            logits = model(tokens.to(device)[None], start)
        if rank == 0:
            conn.send((LOGITS, logits.cpu().numpy()))
