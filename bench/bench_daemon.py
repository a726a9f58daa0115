"""Daemon benchmark: N simulated editors typing against one shared ``codegend serve``.

Each simulated editor types through a real Python file at a steady speed. After each
keystroke it waits for the debounce, cancels its previous request if still running (closing
the connection, as ``codegend lsp`` does) and asks for a single-line completion of the text
before the cursor, with its document key, over the same HTTP client the language server uses.
For N = 1, 4 and 16 editors it reports:

- completion latency percentiles (requests that were answered, not superseded);
- throughput: answered completions and generated tokens per second;
- requests superseded by the next keystroke, and queue drops (HTTP 429);
- the daemon's peak resident memory while serving them;

and, beside it, the resident memory of separate embedded servers (``codegend lsp
--embedded``, each with its own copy of the model) and of one thin ``codegend lsp`` that
only talks to the daemon. Target: one daemon serving 4 editors uses at most 1.2x the memory
of one embedded server.

    python bench/bench_daemon.py [--source builtin:tiny-py | --tiny-random | --config YAML]
        [--editors 1,4,16] [--seconds 15] [--cps 5] [--debounce-ms 75]
        [--max-new-tokens 16] [--backend auto]

``--startup [ROUNDS]``: instead, time start-up to the first completion with a built artifact
(``codegend serve``, ``codegend lsp --embedded``, ``codegend complete``; target 2 s on two
cores); ``--trips N``: count the HTTP requests a thin ``codegend lsp`` makes per completion
(target 1). Both measure from outside the processes (``daemon_startup.py``), so running this
file with ``PYTHONPATH`` at an older checkout's package measures that version side by side.

Prints a table and writes bench/results/daemon.json (daemon_startup.json for --startup and
--trips). Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegend.daemon.client.http_client import DaemonRequestError, HttpClient  # noqa: E402
from codegend.daemon.client_api import CompletionRequest  # noqa: E402
from codegend.daemon.runtime_file import read_runtime_info  # noqa: E402

TYPED_FILES = [ROOT / "daemon" / name for name in
               ("core.py", "scheduler.py", "registry.py", "config.py", "http/support.py")]
MEMORY_TARGET = 1.2
START = 500  # characters already in each file when typing starts: prompts of similar length


@dataclass
class EditorStats:
    latencies_ms: list[float] = field(default_factory=list)
    generated_tokens: int = 0
    superseded: int = 0
    busy: int = 0
    errors: list[str] = field(default_factory=list)


def write_config(args: argparse.Namespace, directory: Path) -> Path:
    if args.config:
        return Path(args.config)
    source, backend = args.source, args.backend
    if args.tiny_random:
        from tests.tiny_models import build_tiny_codegen

        source = str(build_tiny_codegen(directory / "tiny", n_positions=1024))
    config = directory / "config.yaml"
    config.write_text(
        "server: {host: 127.0.0.1, port: 0, max_queue: 16}\n"
        f"models:\n  - name: bench\n    source: {json.dumps(source)}\n"
        f"    backend: {backend}\n    max_new_tokens: {args.max_new_tokens}\n"
        "routes:\n  - {model: bench}\n")
    return config


def start_daemon(config: Path, env: dict[str, str], runtime: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "codegend", "serve", "--config",
                                str(config)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        info = read_runtime_info(runtime)
        if info is not None and info.pid == process.pid:
            import httpx

            health = httpx.get(info.url + "/v1/health", timeout=10).json()
            if health["status"] == "ok":
                return process, info.url
            if health["status"] == "degraded":
                raise SystemExit(f"the daemon could not load its model: {health['models']}")
        if process.poll() is not None:
            raise SystemExit("the daemon exited at start; run `codegend serve` to see why")
        time.sleep(0.2)
    raise SystemExit("the daemon was not ready within 300 s")


async def editor(n: int, url: str, text: str, args: argparse.Namespace, until: float,
                 stats: EditorStats) -> None:
    client = HttpClient(url)
    cursor = START + 7 * n  # each editor its own place, all with prompts of similar length
    interval = 1.0 / args.cps
    inflight: asyncio.Task | None = None

    async def ask(prefix: str) -> None:
        started = time.perf_counter()
        try:
            result = await client.complete(CompletionRequest(
                prefix=prefix[-3000:], language="python", path=f"/bench/editor{n}.py",
                document_key=f"file:///bench/editor{n}.py", mode="line"))
        except DaemonRequestError as err:
            if err.status == 429:
                stats.busy += 1
            else:
                stats.errors.append(str(err))
            return
        if result.finish_reason == "cancelled":  # superseded inside the daemon
            stats.superseded += 1
            return
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        stats.generated_tokens += result.generated_tokens

    try:
        while time.monotonic() < until:
            cursor = cursor + 1 if cursor + 1 < len(text) else START
            if inflight is not None and not inflight.done():
                inflight.cancel()  # the next keystroke supersedes it, as in the editor
                stats.superseded += 1
            await asyncio.sleep(args.debounce_ms / 1000)
            inflight = asyncio.create_task(ask(text[:cursor]))
            await asyncio.sleep(max(0.0, interval - args.debounce_ms / 1000))
        if inflight is not None:
            await asyncio.gather(inflight, return_exceptions=True)
    finally:
        await client.aclose()


async def run_editors(count: int, url: str, pid: int, args: argparse.Namespace) -> dict:
    texts = [path.read_text(encoding="utf-8") for path in TYPED_FILES]
    stats = [EditorStats() for _ in range(count)]
    process = psutil.Process(pid)
    peak = process.memory_info().rss
    before = await asyncio.to_thread(daemon_counters, url)
    started = time.monotonic()
    until = started + args.seconds
    tasks = [asyncio.create_task(editor(i, url, texts[i % len(texts)], args, until, stats[i]))
             for i in range(count)]
    while not all(t.done() for t in tasks):
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    after = await asyncio.to_thread(daemon_counters, url)
    delta = {key: after[key] - before[key] for key in after}
    latencies = sorted(x for s in stats for x in s.latencies_ms)
    return {
        "editors": count, "seconds": round(elapsed, 2),
        "answered": len(latencies),
        "p50_ms": _percentile(latencies, 50), "p90_ms": _percentile(latencies, 90),
        "p99_ms": _percentile(latencies, 99),
        "completions_per_s": round(len(latencies) / elapsed, 2),
        "tokens_per_s": round(sum(s.generated_tokens for s in stats) / elapsed, 1),
        "superseded": sum(s.superseded for s in stats),
        "queue_drops_429": sum(s.busy for s in stats),
        "errors": [e for s in stats for e in s.errors][:5],
        "daemon_peak_rss_mb": round(peak / 2**20, 1),
        "dropped_before_compute": int(delta["dropped"]),
        "cancelled_while_running": int(delta["cancelled_running"]),
        "prefix_cache_hit_ratio": round(delta["reused_tokens"] / delta["prompt_tokens"], 3)
        if delta["prompt_tokens"] else None,
    }


def daemon_counters(url: str) -> dict[str, float]:
    """The daemon's own counters (cumulative): requests dropped before any compute,
    generations cancelled while running, prompt tokens and those the KV prefix cache served."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            label = sample.labels.get("outcome") or sample.labels.get("stage") or ""
            values[f"{sample.name}:{label}"] = sample.value
    return {
        "dropped": values.get("codegend_cancellations_total:queued", 0.0),
        "cancelled_running": values.get("codegend_cancellations_total:running", 0.0),
        "prompt_tokens": values.get("codegend_prompt_tokens_total:", 0.0),
        "reused_tokens": values.get("codegend_reused_prefix_tokens_total:", 0.0),
    }


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


async def lsp_memory(command: list[str], env: dict[str, str], count: int) -> list[float]:
    """Peak resident MB of ``count`` language servers started together, each once it is ready
    and has completed at the places the first simulated editor types (the same prompt
    lengths, so buffers sized by the prompt grow as much as they do in the daemon)."""
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    typed = TYPED_FILES[0].read_text(encoding="utf-8")

    async def one(n: int) -> float:
        client = LanguageClient("bench-daemon", "1")
        ready = asyncio.Event()

        def on_status(params) -> None:
            if getattr(params, "state", None) == "ready":
                ready.set()

        client.feature("codegend/status")(on_status)
        await client.start_io(*command, env=env)
        try:
            await client.initialize_async(types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri="file:///bench"))
            client.initialized(types.InitializedParams())
            await asyncio.wait_for(ready.wait(), 300)
            process = psutil.Process(client._server.pid)
            peak = process.memory_info().rss
            for k in range(0, 160, 8):
                text = typed[:START + k]
                uri = f"file:///bench/memory{n}_{k}.py"
                client.text_document_did_open(types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(uri, "python", 1, text)))
                lines = text.split("\n")
                await client.text_document_inline_completion_async(types.InlineCompletionParams(
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Invoked),
                    text_document=types.TextDocumentIdentifier(uri),
                    position=types.Position(len(lines) - 1, len(lines[-1]))))
                peak = max(peak, process.memory_info().rss)
            return peak / 2**20
        finally:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()

    return list(await asyncio.gather(*(one(n) for n in range(count))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a daemon YAML config (overrides --source)")
    parser.add_argument("--source", default="builtin:tiny-py", help="the model source")
    parser.add_argument("--tiny-random", action="store_true",
                        help="a tiny random CodeGen built on the spot (no trained model needed)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--editors", default="1,4,16", help="comma-separated editor counts")
    parser.add_argument("--seconds", type=float, default=15.0, help="typing time per count")
    parser.add_argument("--cps", type=float, default=5.0, help="characters typed per second")
    parser.add_argument("--debounce-ms", type=float, default=75.0)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--startup", type=int, default=0, metavar="ROUNDS",
                        help="time start-up to the first completion, ROUNDS times each")
    parser.add_argument("--trips", type=int, default=0, metavar="N",
                        help="count HTTP requests over N completions of a thin codegend lsp")
    parser.add_argument("--label", default="", help="names this run in the JSON (e.g. before)")
    args = parser.parse_args()
    if args.startup or args.trips:
        startup_and_trips(args)
        return

    with tempfile.TemporaryDirectory(prefix="codegend-bench-") as tmp:
        directory = Path(tmp)
        runtime = directory / "runtime"
        env = {**os.environ, "CODEGEND_RUNTIME_DIR": str(runtime),
               "XDG_STATE_HOME": str(directory / "state")}
        config = write_config(args, directory)
        daemon, url = start_daemon(config, env, runtime)
        try:
            rows = [asyncio.run(run_editors(int(n), url, daemon.pid, args))
                    for n in args.editors.split(",")]
            thin = asyncio.run(lsp_memory(
                [sys.executable, "-m", "codegend", "lsp", "--config", str(config)], env, 1))
        finally:
            daemon.terminate()
            daemon.wait(60)
        embedded_one = asyncio.run(lsp_memory(
            [sys.executable, "-m", "codegend", "lsp", "--embedded", "--config", str(config)],
            env, 1))[0]
        embedded_four = asyncio.run(lsp_memory(
            [sys.executable, "-m", "codegend", "lsp", "--embedded", "--config", str(config)],
            env, 4))
    report(rows, embedded_one, embedded_four, thin[0], args)


def startup_and_trips(args: argparse.Namespace) -> None:
    from bench import daemon_startup as measure

    results: dict = {"label": args.label, "python_path": os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory(prefix="codegend-startup-") as tmp:
        directory = Path(tmp)
        model = (f"models:\n  - {{name: default, source: {json.dumps(args.source)}, "
                 f"max_new_tokens: {args.max_new_tokens}}}\n")
        if args.startup:
            env, runtime = measure.env_for(directory, "startup")
            config = directory / "startup.yaml"
            config.write_text("server: {host: 127.0.0.1, port: 0}\n" + model)
            results["startup"] = measure.startup_rows(config, env, runtime, args.source,
                                                      directory, args.startup)
            print(f"\nstart-up to the first completion (built artifact, {args.source}), "
                  f"{args.startup} rounds {args.label}")
            for row in results["startup"]:
                print(f"  {row['what']:26} median {row['median_s']:6.2f} s   "
                      f"min {row['min_s']:6.2f} s   {row['runs_s']}")
        if args.trips:
            env, _ = measure.env_for(directory, "daemon")
            lsp_env, _ = measure.env_for(directory, "lsp")
            daemon_port, proxy_port = measure.free_port(), measure.free_port()
            daemon_config, lsp_config = directory / "daemon.yaml", directory / "lsp.yaml"
            daemon_config.write_text(f"server: {{host: 127.0.0.1, port: {daemon_port}}}\n"
                                     + model)
            lsp_config.write_text(f"server: {{host: 127.0.0.1, port: {proxy_port}}}\n" + model)
            (directory / "proxy.port").write_text(str(proxy_port))
            results["trips"] = asyncio.run(measure.trips_per_completion(
                daemon_config, lsp_config, daemon_port, directory / "proxy.port", env,
                lsp_env, args.trips))
            trips = results["trips"]
            print(f"\nHTTP requests per completion (thin codegend lsp, {trips['completions']} "
                  f"explicit completions, {trips['answered']} with an item) {args.label}: "
                  f"{trips['trips_per_completion']}  {trips['trips']}")
    name = f"daemon_startup-{args.label}.json" if args.label else "daemon_startup.json"
    out = ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out}")


def report(rows: list[dict], embedded_one: float, embedded_four: list[float], thin: float,
           args: argparse.Namespace) -> None:
    print(f"\nOne daemon, editors typing at {args.cps:g} chars/s for {args.seconds:g} s each "
          f"(debounce {args.debounce_ms:g} ms, {args.max_new_tokens} new tokens max)\n")
    header = (f"{'editors':>7} {'answered':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
              f"{'compl/s':>8} {'tok/s':>7} {'supersed':>8} {'429':>5} {'daemon MB':>10} "
              f"{'N embedded MB':>14} {'dropped':>8} {'prefix hit':>10}")
    print(header)
    for row in rows:
        n = row["editors"]
        separate = sum(embedded_four) if n == 4 else embedded_one * n
        print(f"{n:>7} {row['answered']:>8} {_fmt(row['p50_ms']):>7} {_fmt(row['p90_ms']):>7} "
              f"{_fmt(row['p99_ms']):>7} {row['completions_per_s']:>8} {row['tokens_per_s']:>7} "
              f"{row['superseded']:>8} {row['queue_drops_429']:>5} "
              f"{row['daemon_peak_rss_mb']:>10} {separate:>13.1f}{'' if n in (1, 4) else '*'} "
              f"{row['dropped_before_compute']:>8} {_fmt(row['prefix_cache_hit_ratio']):>10}")
        if row["errors"]:
            print(f"        errors: {row['errors']}")
    print("  * N x one embedded server (1 and 4 are measured side by side)")
    print("  dropped: superseded or cancelled while queued, never computed; prefix hit: share "
          "of prompt tokens the KV cache served")
    four = next((r for r in rows if r["editors"] == 4), None)
    print(f"\nembedded server (codegend lsp --embedded): {embedded_one:.1f} MB; four of them: "
          f"{sum(embedded_four):.1f} MB; thin codegend lsp (daemon client): {thin:.1f} MB")
    if four is not None:
        ratio = four["daemon_peak_rss_mb"] / embedded_one
        verdict = "meets" if ratio <= MEMORY_TARGET else "MISSES"
        print(f"daemon serving 4 editors / one embedded server = {ratio:.2f}x "
              f"({verdict} the {MEMORY_TARGET}x target); with 4 thin clients: "
              f"{(four['daemon_peak_rss_mb'] + 4 * thin) / embedded_one:.2f}x")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "daemon.json").write_text(json.dumps({
        "args": vars(args), "rows": rows, "embedded_one_mb": embedded_one,
        "embedded_four_mb": embedded_four, "thin_lsp_mb": thin}, indent=2))
    print(f"\nwritten: {results / 'daemon.json'}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 1 else f"{value:.1f}"


if __name__ == "__main__":
    main()
