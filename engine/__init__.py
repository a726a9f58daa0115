"""codegend.engine: the generation core, which knows models, tensors and tokens.

At the root: the interface every backend speaks (``types``, ``stepper``), the generation
loop (``generate``: prefix reuse, ``sampling``, ``stop_strings``, ``token_healing``,
``kv_sequences``), the ``tokenizer``, where models come from (``model_source``), what a
model entry says (``model_spec``), where it runs (``placement``) and the ``loader`` that
puts them together. The rooms beside it: ``onnx/`` (graphs and their runtime), ``quant/``
(recipes), ``build/`` (the cached pipeline), ``eval/`` (``codegend eval``) and ``torch/``
(the reference and tensor-parallel backends). The engine imports neither the daemon nor the
language server.
"""
