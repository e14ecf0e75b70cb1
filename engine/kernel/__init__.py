"""The command kernel: the engine object's definitions and caches (``engine``), the hot-workflow
cache (``cache``), the loader of a contract's instances (``loader``), what a command writes
(``planning``, ``store``), the contract's workflows during a command (``contract_state``), the
facts a contract starts with (``facts``) and the signing ceremony's event kinds
(``signature_events``)."""
