"""The synthetic search workload, shared by ``search.py`` and ``peer_mlflow_search.py``.

Standard library only: the peer script imports it inside MLflow's virtualenv, so both
sides generate the same traces from the same constants.
"""

DAY_MS = 86_400_000
T_END = 1_767_225_600_000  # 2026-01-01T00:00:00Z; traces span the 30 days before it
SPAN_DAYS = 30

TOPICS = ["refund", "shipping", "password", "invoice", "warranty", "upgrade", "cancel",
          "delivery", "login", "discount"]
TEMPLATES = ["How do I get a {} for my order?", "Question about {} please",
             "My {} is not working", "Can you help with {}?", "What is your {} policy?"]
ENVS = [("prod", 0.7), ("staging", 0.2), ("dev", 0.1)]
TEAMS = ["search", "support", "billing"]
VERSIONS = ["1.2.0", "1.3.0", "1.4.0", "1.5.0-beta"]
CHILDREN = [("retrieve_docs", "RETRIEVER"), ("llm_call", "CHAT_MODEL"),
            ("lookup_order", "TOOL"), ("parse_answer", "PARSER")]
