"""The torch backends: the transformers reference stepper and the tensor-parallel group.

``reference_stepper`` runs the plain transformers model (``--backend torch``; tests compare
every faster path with it). The tensor-parallel backend is a compact CodeGen (``codegen``)
read from memory-mapped checkpoints (``checkpoint``), sharded by module surgery (``tp``),
optionally with int8 weights (``int8_linear``), decoding through one compiled static step
(``static_decode``: torch.compile, CUDA graphs on GPUs), run by rank processes
(``tp_worker``) that the daemon starts and watches (``tp_group``) behind the generation
loop's stepper protocol (``tp_stepper``).
"""
