"""Test doubles Spanscope ships for its own tests and for users' tests and benchmarks.

- ``spanscope.testing.fake_openai``: a local OpenAI-compatible HTTP server with scripted
  answers, for exercising LLM judges over real HTTP without a real provider.
"""
