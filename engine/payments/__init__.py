"""Payments adapter (issue 6, docs/payments.md): payment orders written exactly once by the
``payment_order`` side-effect handler, ISO 20022 pain.001/CSV batches per office and period,
reconciliation of camt.054/CSV results into the contracts.

Importing this package registers the handler and its batch form (many orders in one
transaction when the runner claims them together); ``engine.services.outbox`` imports it, so
the Celery worker, ``aqd outbox run`` and the in-process loop of ``aqd serve`` all run it."""

from engine.payments.orders import KIND, handle_payment_order, handle_payment_orders
from engine.worker.handlers import register_batch_handler, register_handler

register_handler(KIND, handle_payment_order)
register_batch_handler(KIND, handle_payment_orders, handler=handle_payment_order)

__all__ = ["KIND", "handle_payment_order", "handle_payment_orders"]
