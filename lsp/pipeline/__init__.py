"""The completion pipeline: named stages from a cursor to the text an editor shows.

should we complete (``trigger``) → how much (``completion_mode``) → the prompt within the
model's token budget (``prompt``) → the daemon's stream, cancelled where the completion ends
(``stop_rules``) → ``postprocess/`` → ``confidence_gate`` (silent when the model is unsure).
``run`` chains them for one completion; ``cursor``, ``indentation`` and ``languages`` are
what the stages read; ``completion_cache`` answers what the user is typing along a shown
suggestion. The pipeline never knows which engine it runs on: it sees only the daemon's
client interface.
"""
