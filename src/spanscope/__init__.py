"""Spanscope: trace observability and quality improvement for GenAI applications."""

__version__ = "0.1.0"
