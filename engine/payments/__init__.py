"""Payments adapter (issue 6, docs/payments.md): payment orders written exactly once by the
``payment_order`` side-effect handler, ISO 20022 pain.001/CSV batches per office and period,
reconciliation of camt.054/CSV results into the contracts.

A plug-in of the engine: the composition root (``engine.bootstrap``) calls :func:`register`,
which adds the handler and its batch form (many orders in one transaction when the runner
claims them together) to the engine's plug-ins."""

from engine.payments.orders import KIND, handle_payment_order, handle_payment_orders
from engine.plugins import Plugins


def register(plugins: Plugins) -> None:
    """Add the ``payment_order`` handler and its batch form to ``plugins``."""
    plugins.register_batch_handler(KIND, handle_payment_orders, handler=handle_payment_order)


__all__ = ["KIND", "handle_payment_order", "handle_payment_orders", "register"]
