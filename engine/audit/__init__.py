"""Audit: replay of a contract's history against its pinned definition (``replay``), batch and
parallel verification (``replay``) and its recorded runs (``verification_runs``), the time-stamped
anchors of the hash chains (``anchors``) and the self-verifying audit package (``package``)."""
