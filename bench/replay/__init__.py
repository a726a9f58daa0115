"""The typing replay: held-out real code typed through ``codegend lsp`` as a person types.

``held_out`` picks the files and the stretches of them to type; ``typist`` turns a stretch
into keystrokes as an editor sees them (auto-closed brackets and quotes, realistic pauses);
``lsp_driver`` sends them to the real language server and records what it shows;
``judge`` decides what of it a user would have accepted and sums the figures. The command
lines are ``bench/bench_replay.py`` and ``bench/calibrate_confidence.py``.
"""
