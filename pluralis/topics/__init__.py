"""Case Study I: who talks about what (topics by group)."""
