"""Accounts and sessions (``accounts``) and the scope rule: who may see and act on what
(``scope``)."""
