"""/metrics counts forward passes and draft tokens: speculation shows as tokens per pass > 1.

The parrots answer "aaaa..." (or "bbbb..."), so once a few letters are out, prompt lookup
drafts more of them from the generation itself and the model accepts them: both the ONNX
backend (alpha) and the torch reference backend (beta) verify drafts.
"""

from __future__ import annotations

from pathlib import Path

from codegend.daemon.config import load_config
from tests.daemon.conftest import serve_in_thread, two_model_yaml, write_config
from tests.daemon.http.test_native_api import complete, metric


def test_forward_passes_and_drafts_are_counted_per_model(tmp_path: Path, parrots):
    yaml = two_model_yaml(parrots)
    with serve_in_thread(load_config(write_config(tmp_path / "c.yaml", yaml))) as url:
        for model, language in (("alpha", "python"), ("beta", "rust")):
            result = complete(url, prefix="x = ", language=language, max_new_tokens=24)
            generated = metric(url, "codegend_generated_tokens_total", model=model)
            passes = metric(url, "codegend_forward_passes_total", model=model)
            accepted = metric(url, "codegend_draft_tokens_total", model=model,
                              outcome="accepted")
            rejected = metric(url, "codegend_draft_tokens_total", model=model,
                              outcome="rejected")
            assert generated == result["generated_tokens"] == 24, model
            # Every token is either a pass's own choice or an accepted draft.
            assert passes + accepted >= generated and passes < 0.75 * generated, model
            assert accepted > 0 and rejected >= 0, model
