"""The outbox: side effects as data (DESIGN.md invariant 2). ``handlers`` is the extension
point plug-ins implement; ``runner`` claims, executes, retries and records them."""
