"""Mechanisms every layer uses, knowing nothing of Llama or NeMo: one-line errors, atomic outputs,
secrets by name, shell-safe values, multi-problem argument checks, warning filters, fault injection.
"""
