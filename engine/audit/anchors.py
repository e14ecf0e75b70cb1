"""Anchors of the contracts' hash chains.

The hash chain (DESIGN.md invariant 4) shows that a contract's events were not altered, unless
whoever altered them also recomputed the chain, which anyone with write access to the database
and this code can do. An **anchor** closes that gap: periodically, the chain heads that moved
since the previous anchor are recorded as leaves ``(contract, seq, hash of event seq)``, a root
is computed over them and the previous anchor's root, and a time-stamping service (RFC 3161,
through ``signing/``) signs the root with its time. Then:

* ``check_contract`` (run by every replay and verification): each anchored head of a contract
  must still be the hash of its event at that seq, so a chain rewritten below an anchored head
  fails at that event;
* ``verify_anchors`` (``aqd anchors verify``): each anchor's root must be rebuilt from its
  leaves and the previous root, and its token must be a valid time-stamp over that root, so
  leaves rewritten to match a rewritten chain fail there.

The root is the SHA-256 of a text any verifier can rebuild: ``aqd-anchor-1``, the previous
root, the anchor's time (ISO 8601, UTC) and the Merkle root of the leaves (hex), one per line,
each line ending with a newline. The Merkle tree is RFC 6962's over the leaves in contract-id
order, each leaf being the text ``<contract id> <seq> <hash>``: a leaf hashes as
``SHA-256(0x00 ‖ leaf)``, a node as ``SHA-256(0x01 ‖ left ‖ right)``. So one contract's anchored
head is proven by a path of 18 hashes for 150,000 leaves (``inclusion_proof``), which
the contract's audit package carries with the token.

The time-stamp is asked for after the anchor is committed (no call to a remote service inside a
transaction): an anchor whose stamping failed stays unstamped, and the next run stamps it first.
A development TSA's key lies on this server, so its tokens prove nothing against this server's
administrators; production points ``AQD_SIGNING_TSA_URL`` at an external TSA.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from engine.errors import IntegrityError
from engine.models import ChainAnchor, ChainAnchorLeaf, Contract

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd

VERSION = "aqd-anchor-1"
GENESIS_ROOT = "0" * 64
#: Leaves written per INSERT.
_CHUNK = 5000


def _at(at: datetime) -> str:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat()


def leaf_hash(contract_id: int, seq: int, head: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{contract_id} {seq} {head}".encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _levels(leaves: Iterable[tuple[int, int, str]]) -> list[list[bytes]]:
    """The Merkle tree's levels, leaves first; a level's odd last node moves up unpaired
    (which gives RFC 6962's left-balanced tree)."""
    level = [leaf_hash(*leaf) for leaf in leaves]
    levels = [level]
    while len(level) > 1:
        level = [
            _node(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        levels.append(level)
    return levels


def merkle_root(leaves: Iterable[tuple[int, int, str]]) -> str:
    return _top(_levels(leaves))


def _top(levels: list[list[bytes]]) -> str:
    return (levels[-1][0] if levels[-1] else hashlib.sha256(b"").digest()).hex()


def inclusion_proof(leaves: list[tuple[int, int, str]], index: int) -> list[list[str]]:
    """The path from leaf ``index`` to the Merkle root: ``["L"|"R", sibling hash]`` per level
    where it has a sibling (on its left or right)."""
    return _path(_levels(leaves), index)


def _path(levels: list[list[bytes]], index: int) -> list[list[str]]:
    path: list[list[str]] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(["L" if sibling < index else "R", level[sibling].hex()])
        index //= 2
    return path


def root_from_proof(leaf: tuple[int, int, str], path: list[list[str]]) -> str:
    """The Merkle root a leaf and its path lead to."""
    node = leaf_hash(*leaf)
    for side, sibling in path:
        other = bytes.fromhex(sibling)
        node = _node(other, node) if side == "L" else _node(node, other)
    return node.hex()


def anchor_root(prev_root: str, anchored_at: datetime, leaves_root: str) -> str:
    text = f"{VERSION}\n{prev_root}\n{_at(anchored_at)}\n{leaves_root}\n"
    return hashlib.sha256(text.encode()).hexdigest()


def root_of(prev_root: str, anchored_at: datetime, leaves: Iterable[tuple[int, int, str]]) -> str:
    """The anchor's root over ``leaves`` (``(contract id, seq, head)`` in contract-id order)."""
    return anchor_root(prev_root, anchored_at, merkle_root(leaves))


# -- anchoring -------------------------------------------------------------------------------------


def _moved_heads(session: Session) -> list[tuple[int, int, str]]:
    """``(contract, last seq, chain head)`` of every contract whose chain grew since its last
    anchored head (one row per contract, read as committed with its events)."""
    # the latest leaf holds the highest seq (a chain only grows): one backward probe of the
    # (contract_id, anchor_id) key per contract, however many anchors hold the contract
    anchored = (
        select(ChainAnchorLeaf.seq)
        .where(ChainAnchorLeaf.contract_id == Contract.id)
        .order_by(ChainAnchorLeaf.anchor_id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Contract.id, Contract.last_seq, Contract.chain_head)
        .where(Contract.last_seq > func.coalesce(anchored, 0))
        .order_by(Contract.id)
    ).all()
    return [(int(c), int(seq), str(head)) for c, seq, head in rows]


def create_anchor(aqd: Aqd) -> dict[str, Any]:
    """Stamp the anchors still unstamped, then anchor the chain heads that moved since the last
    anchor (none moved: no anchor), then stamp it. Returns what was done; a time-stamping
    failure is reported in ``error`` and retried by the next run."""
    report: dict[str, Any] = {"anchor": None, "contracts": 0, "stamped": [], "error": None}
    if not _stamp_pending(aqd, report):
        return report
    with aqd.session() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":  # one anchoring at a time
            session.execute(text("SELECT pg_advisory_xact_lock(7162001)"))
        last = session.scalars(select(ChainAnchor).order_by(ChainAnchor.id.desc()).limit(1)).first()
        leaves = _moved_heads(session)
        if not leaves:
            return report
        at = aqd.clock.now().astimezone(UTC).replace(microsecond=0)
        prev_root = last.root if last is not None else GENESIS_ROOT
        anchor = ChainAnchor(
            anchored_at=at,
            prev_root=prev_root,
            root=root_of(prev_root, at, leaves),
            contracts=len(leaves),
            token=None,
            tsa="",
        )
        session.add(anchor)
        session.flush()
        for i in range(0, len(leaves), _CHUNK):
            session.execute(
                insert(ChainAnchorLeaf),
                [
                    {"contract_id": c, "anchor_id": anchor.id, "seq": seq, "head": head}
                    for c, seq, head in leaves[i : i + _CHUNK]
                ],
            )
        report["anchor"], report["contracts"] = anchor.id, len(leaves)
    _stamp_pending(aqd, report)
    return report


def _stamp_pending(aqd: Aqd, report: dict[str, Any]) -> bool:
    """Time-stamp every unstamped anchor, oldest first; False (and ``error``) if one failed."""
    stamper = aqd.plugins.require_timestamper()  # signing/'s, the only part reading RFC 3161
    with aqd.session() as session:
        pending = session.execute(
            select(ChainAnchor.id, ChainAnchor.root)
            .where(ChainAnchor.token.is_(None))
            .order_by(ChainAnchor.id)
        ).all()
    for anchor_id, root in pending:
        try:
            token, tsa = stamper.stamp(aqd, bytes.fromhex(root))
        except Exception as exc:  # the service is down: the next run retries
            report["error"] = f"anchor {anchor_id} is not time-stamped yet: {exc}"
            return False
        with aqd.session() as session, session.begin():
            session.execute(
                update(ChainAnchor)
                .where(ChainAnchor.id == anchor_id, ChainAnchor.token.is_(None))
                .values(token=token, tsa=tsa[:300], stamped_at=aqd.clock.now())
            )
        report["stamped"].append(anchor_id)
    return True


# -- checking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchoredHead:
    seq: int
    head: str
    anchor_id: int
    anchored_at: datetime


def anchored_heads(session: Session, contract_ids: list[int]) -> dict[int, list[AnchoredHead]]:
    """The anchored heads of these contracts, by contract, oldest first."""
    out: dict[int, list[AnchoredHead]] = {}
    if not contract_ids:
        return out
    rows = session.execute(
        select(
            ChainAnchorLeaf.contract_id,
            ChainAnchorLeaf.seq,
            ChainAnchorLeaf.head,
            ChainAnchor.id,
            ChainAnchor.anchored_at,
        )
        .join(ChainAnchor, ChainAnchor.id == ChainAnchorLeaf.anchor_id)
        .where(ChainAnchorLeaf.contract_id.in_(contract_ids))
        .order_by(ChainAnchorLeaf.contract_id, ChainAnchor.id)
    ).all()
    for contract_id, seq, head, anchor_id, at in rows:
        out.setdefault(int(contract_id), []).append(AnchoredHead(int(seq), head, anchor_id, at))
    return out


def check_contract(heads: list[AnchoredHead], events: list[dict[str, Any]], report: Any) -> None:
    """Each anchored head must still be the hash of the contract's event at its seq; the
    report's ``anchored`` names the latest one reached."""
    by_seq = {int(ev["seq"]): ev for ev in events}
    for anchored in heads:
        when = _at(anchored.anchored_at)
        ev = by_seq.get(anchored.seq)
        if ev is not None and ev["hash"] == anchored.head:
            report.anchored = {
                "seq": anchored.seq,
                "anchor": anchored.anchor_id,
                "anchored_at": when,
            }
        if ev is None:
            report.fail(
                anchored.seq,
                f"event {anchored.seq} was anchored at {when} (anchor {anchored.anchor_id}) "
                "and is missing",
            )
        elif ev["hash"] != anchored.head:
            report.fail(
                anchored.seq,
                f"event {anchored.seq} no longer has the chain hash anchored at {when} "
                f"(anchor {anchored.anchor_id}): the history up to it was rewritten",
            )


def _leaves(session: Session, anchor_id: int) -> list[tuple[int, int, str]]:
    """An anchor's leaves in contract-id order (the order of its Merkle tree)."""
    rows = session.execute(
        select(ChainAnchorLeaf.contract_id, ChainAnchorLeaf.seq, ChainAnchorLeaf.head)
        .where(ChainAnchorLeaf.anchor_id == anchor_id)
        .order_by(ChainAnchorLeaf.contract_id)
    )
    return [(int(c), int(seq), str(head)) for c, seq, head in rows]


@dataclass
class AnchorsReport:
    anchors: int = 0
    leaves: int = 0
    unstamped: list[int] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    last_stamped_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "anchors": self.anchors,
            "leaves": self.leaves,
            "ok": not self.failed,
            "failed": self.failed,
            "unstamped": self.unstamped,
            "last_stamped_at": self.last_stamped_at,
        }


def verify_anchors(aqd: Aqd) -> AnchorsReport:
    """Rebuild every anchor's root from its leaves and the previous root, and check its
    time-stamp token over that root."""
    stamper = aqd.plugins.require_timestamper()
    report = AnchorsReport()
    prev = GENESIS_ROOT
    with aqd.session() as session:
        anchors = session.execute(
            select(
                ChainAnchor.id,
                ChainAnchor.anchored_at,
                ChainAnchor.prev_root,
                ChainAnchor.root,
                ChainAnchor.contracts,
                ChainAnchor.token,
            ).order_by(ChainAnchor.id)
        ).all()
        for anchor_id, at, prev_root, root, contracts, token in anchors:
            report.anchors += 1
            leaves = _leaves(session, anchor_id)
            report.leaves += len(leaves)

            def fail(problem: str, anchor_id: int = anchor_id) -> None:
                report.failed.append({"anchor": anchor_id, "problem": problem})

            if prev_root != prev:
                fail(f"anchor {anchor_id} does not follow the anchor before it")
            if len(leaves) != contracts or root_of(prev_root, at, leaves) != root:
                fail(f"anchor {anchor_id}'s leaves or root were altered")
            if token is None:
                report.unstamped.append(anchor_id)
            else:
                stamped_at, problem = stamper.check(aqd, bytes(token), bytes.fromhex(root))
                if problem:
                    fail(f"anchor {anchor_id}: {problem}")
                elif stamped_at is not None:
                    report.last_stamped_at = _at(stamped_at)
            prev = root
    return report


def list_anchors(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            ChainAnchor.id,
            ChainAnchor.anchored_at,
            ChainAnchor.contracts,
            ChainAnchor.root,
            ChainAnchor.tsa,
            ChainAnchor.stamped_at,
        )
        .order_by(ChainAnchor.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": anchor_id,
            "anchored_at": _at(at),
            "contracts": contracts,
            "root": root,
            "tsa": tsa,
            "stamped_at": _at(stamped) if stamped else None,
        }
        for anchor_id, at, contracts, root, tsa, stamped in rows
    ]


# -- proofs for audit packages -------------------------------------------------------------------


def contract_proof(session: Session, contract_id: int) -> dict[str, Any] | None:
    """The contract's latest time-stamped anchored head with what an offline verifier needs:
    the anchor's header, the leaf's Merkle path, the token. The chain is linear, so that head
    vouches for every event up to it. None if no stamped anchor holds the contract."""
    found = session.execute(
        select(ChainAnchorLeaf.anchor_id, ChainAnchorLeaf.seq, ChainAnchorLeaf.head)
        .join(ChainAnchor, ChainAnchor.id == ChainAnchorLeaf.anchor_id)
        .where(ChainAnchorLeaf.contract_id == contract_id, ChainAnchor.token.is_not(None))
        .order_by(ChainAnchorLeaf.anchor_id.desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    anchor_id, seq, head = found
    anchor = session.get(ChainAnchor, anchor_id)
    if anchor is None or anchor.token is None:  # read in the same transaction: never
        raise IntegrityError(f"anchor {anchor_id} changed while it was read")
    leaves = _leaves(session, anchor_id)
    index = next(i for i, leaf in enumerate(leaves) if leaf[0] == contract_id)
    levels = _levels(leaves)
    return {
        "format": VERSION,
        "anchor": anchor_id,
        "anchored_at": _at(anchor.anchored_at),
        "prev_root": anchor.prev_root,
        "leaves": len(leaves),
        "leaves_root": _top(levels),
        "root": anchor.root,
        "leaf": {"contract_id": contract_id, "seq": int(seq), "head": str(head)},
        "path": _path(levels, index),
        "tsa": anchor.tsa,
        "token": base64.b64encode(bytes(anchor.token)).decode(),
    }


def verify_proof(aqd: Aqd | None, proof: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """What is wrong with a contract's anchor proof against its events (empty: it holds): the
    history must reach the anchored head, the path must lead to the anchor's leaves root, the
    header to its root, and the token must be a valid time-stamp over that root."""
    try:
        leaf = proof["leaf"]
        seq, head = int(leaf["seq"]), str(leaf["head"])
        key = (int(leaf["contract_id"]), seq, head)
        by_seq = {int(ev["seq"]): ev for ev in events}
        problems = []
        if by_seq.get(seq, {}).get("hash") != head:
            problems.append(
                f"the history does not reach the head anchored at {proof['anchored_at']} "
                f"(event {seq}, anchor {proof['anchor']})"
            )
        if root_from_proof(key, proof["path"]) != proof["leaves_root"]:
            problems.append("the anchor's Merkle path does not lead to its leaves root")
        at = datetime.fromisoformat(proof["anchored_at"])
        if anchor_root(proof["prev_root"], at, proof["leaves_root"]) != proof["root"]:
            problems.append("the anchor's root does not match its header")
        token = base64.b64decode(proof["token"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"the anchor proof is malformed: {type(exc).__name__}: {exc}"]
    stamper = aqd.plugins.timestamper if aqd is not None else None
    if aqd is None or stamper is None:  # the token is checked with an engine's trust settings
        return [*problems, "the anchor's time-stamp token cannot be checked without trust settings"]
    _stamped_at, problem = stamper.check(aqd, token, bytes.fromhex(proof["root"]))
    if problem:
        problems.append(f"anchor {proof['anchor']}: {problem}")
    return problems
