"""Evaluation: scorers, LLM judges, ``evaluate()`` and datasets (capability layer).

Modules here import pandas and the ``openai`` client only where they are used, so
importing this package stays cheap. The public names live in ``spanscope.genai``.
"""
