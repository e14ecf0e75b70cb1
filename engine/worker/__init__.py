"""Celery worker and scheduler: periodic engine jobs (due timers) run here in production."""
