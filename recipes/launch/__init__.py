"""Running a checked job: the shared body of ``pretrain`` / ``finetune`` (``entry``), the NeMo-Run
experiment (``experiment``, ``remote``), local job control, run records and their state, ``status``.
"""
