"""ONNX graphs of CodeGen: export, optimize (with our attention fusion), validate, and run.

Building a graph (``export``, ``optimize``, ``fuse_attention``, each checked by
``validate`` against torch) and running one (``stepper``: an ONNX Runtime session with IO
binding behind the generation loop's stepper protocol; ``binding``: how torch tensors are
handed to the session; ``decode_graph``: the fixed-shape decode step a CUDA graph replays)
are the two halves of this room.
Quantization recipes live in ``engine/quant``; the cached pipeline that chains the stages,
in ``engine/build``.
"""
