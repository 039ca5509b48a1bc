"""API keys: a chain's machine credentials (its POS, ERP, CRM), with scopes and an optional
store list. ``service`` creates, lists and revokes them; ``verdicts`` turns a presented key
into a principal from this process's memory (app.core.auth's middleware calls it)."""
