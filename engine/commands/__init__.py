"""The engine's commands: :class:`engine.commands.aqd.Aqd` (one transaction each), the commands
on a contract as a whole (``contract_actions``), the timer poller (``timers``) and the migration
of running contracts to another definition version (``version_migration``)."""
