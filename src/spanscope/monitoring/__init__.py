"""Production monitoring: online scorers and monitors, computed over the store."""
