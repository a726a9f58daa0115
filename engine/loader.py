"""From a model spec (what the config or the CLI says) to a ready ``TextGenerator``.

The spec is resolved (where the model is), placed (``placement.choose_placement``: which
backend on which device, decided once) and opened on the backend it was placed on.
"""

from __future__ import annotations

import logging

from codegend.engine.fim import fim_template_for
from codegend.engine.generate import StepperGenerator
from codegend.engine.model_source import ResolvedModel, resolve_model_source
from codegend.engine.model_spec import ModelSpec
from codegend.engine.placement import Placement, choose_placement, quantization_for
from codegend.engine.prompt_lookup import LookupConfig
from codegend.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)


def load_generator(spec: ModelSpec) -> StepperGenerator:
    resolved = resolve_model_source(spec.source, spec.allow_download)
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    placement = choose_placement(spec, resolved)
    log.info("model %s (%s): %s", spec.name, spec.source, placement.reason)
    stepper, details = _open_stepper(spec, resolved, placement)
    context = min(spec.context_tokens or resolved.max_positions, resolved.max_positions)
    lookup = None
    if spec.draft_tokens:
        first = min(LookupConfig.initial_draft_tokens, spec.draft_tokens)
        lookup = LookupConfig(max_draft_tokens=spec.draft_tokens, initial_draft_tokens=first)
    generator = StepperGenerator(spec.name, stepper, tokenizer, context,
                                 spec.kv_cache_sequences, placement, details, lookup)
    generator.fim_template = fim_template_for(tokenizer.added_tokens, spec.fim)
    if generator.fim_template is not None:
        log.info("model %s: fill-in-the-middle with the %s template", spec.name,
                 generator.fim_template.name)
    return generator


def _open_stepper(spec: ModelSpec, resolved: ResolvedModel, placement: Placement):
    if placement.backend == "torch":
        from codegend.engine.torch.reference_stepper import open_torch_stepper

        return open_torch_stepper(resolved, placement.device), {}
    if placement.backend == "torch-tp":
        from codegend.engine.torch.tp_stepper import open_tp_stepper

        stepper = open_tp_stepper(resolved.path, placement.world_size, placement.device,
                                  threads_per_rank=spec.threads)
        return stepper, {"world_size": placement.world_size}
    from codegend.engine.build.pipeline import build_onnx_model
    from codegend.engine.onnx.stepper import OnnxStepper, create_session

    _, options = spec.recipe()
    result = build_onnx_model(resolved, quantization_for(spec, placement),
                              for_gpu=placement.device == "cuda", options=options)
    session = create_session(result.artifact.model_path, placement.device, spec.threads)
    return OnnxStepper(session, resolved.max_positions), result.artifact.manifest
