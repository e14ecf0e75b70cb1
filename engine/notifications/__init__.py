"""Notifications: written with the command that causes them (``notify``), delivered by e-mail or
SMS through the outbox (``delivery``, a plug-in registered by ``engine.bootstrap``), and the
escalation of overdue tasks (``escalations``)."""
