"""From flags to a checked job: argparse (``cli``), the plan (``plan``), tutorial fidelity, the built
and overridden recipe (``built``), the memory check and pre-flight validation (``validate``).
"""
