"""``python -m recipes.evaluate`` and ``python -m recipes.chat`` on a trained model.
"""
