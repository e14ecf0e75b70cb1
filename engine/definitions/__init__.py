"""Process definitions: deployment of versions (``deploy``), the modeller's drafts
(``drafts``), diagrams with a contract's progress (``diagram``) and simulation (``simulation``).

The modeller's catalogue (``api.modeller_catalog``) reads the DMN namespaces and the lanes the
engine knows from here, not from ``engine.runtime``.
"""

from engine.runtime.definitions import DMN_NAMESPACES, KNOWN_LANES

__all__ = ["DMN_NAMESPACES", "KNOWN_LANES"]
