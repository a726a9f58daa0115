"""``codegend lsp`` with the scripted client in place of the daemon, for protocol tests.

Run as ``python -m tests.lsp.fake_engine_server SCRIPT.json [STATS.json]``: the JSON
holds ScriptedClient's fields. Everything but the engine is the real server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    from codegend.lsp.cli_command import configure_logging
    from codegend.lsp.server import build_server
    from codegend.lsp.settings import ServerOptions
    from tests.lsp.fake_client import ScriptedClient

    script = json.loads(Path(argv[0]).read_text())
    stats_path = argv[1] if len(argv) > 1 else None

    async def open_scripted(config_path: str | None) -> ScriptedClient:
        if script.get("open_error"):
            raise OSError(script["open_error"])
        fields = {k: v for k, v in script.items() if k != "open_error"}
        fields["extra_models"] = tuple(fields.get("extra_models", ()))
        return ScriptedClient(**fields)

    configure_logging(debug=False)
    build_server(ServerOptions(stats_path=stats_path), open_scripted).start_io()


if __name__ == "__main__":
    main(sys.argv[1:])
