"""Anchors of the contracts' hash chains: RFC 3161 time-stamps (the development TSA, real
tokens) over the chain heads that moved. A history rewritten with its chain recomputed passes
replay and the chain checks; it no longer reaches its anchored head."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select, update

from api import bootstrap
from engine.audit.anchors import (
    create_anchor,
    inclusion_proof,
    list_anchors,
    merkle_root,
    root_from_proof,
    root_of,
    verify_anchors,
)
from engine.audit.package import build_package, verify_package
from engine.audit.replay import event_body, replay_contract
from engine.audit.verification import verify_contracts
from engine.kernel.contract_state import chain_hash
from engine.kernel.planning import GENESIS
from engine.models import ChainAnchor, ChainAnchorLeaf, Contract, Event
from tests.conftest import World


@pytest.fixture
def anchoring(world: World, tmp_path: Path) -> World:
    world.aqd.settings.var_dir = tmp_path  # the development PKI and its TSA are created here
    world.aqd.plugins = bootstrap.plugins()  # the application's: signing's plug-ins too
    return world


def claim(world: World, contract_id: int, user: str = "counsellor.tun") -> None:
    guid = world.task(contract_id, "employer_agreement")
    with world.aqd.session() as s, s.begin():
        world.aqd.claim_task(s, guid, user)


def rewrite_claim(world: World, contract_id: int, user: str) -> int:
    """What someone with write access can do: change who claimed a task (an event replay does
    not re-execute) and recompute the contract's chain. Returns the rewritten event's seq."""
    with world.aqd.session() as s, s.begin():
        events = list(
            s.scalars(select(Event).where(Event.contract_id == contract_id).order_by(Event.seq))
        )
        target = next(ev for ev in events if ev.kind == "task_claimed")
        prev = GENESIS
        for ev in events:
            payload = {**ev.payload, "assignee": user} if ev is target else ev.payload
            actor = user if ev is target else ev.actor
            digest = chain_hash(prev, {**event_body(ev), "payload": payload, "actor": actor})
            s.execute(
                update(Event)
                .where(Event.id == ev.id)
                .values(payload=payload, actor=actor, prev_hash=prev, hash=digest)
            )
            prev = digest
        s.execute(update(Contract).where(Contract.id == contract_id).values(chain_head=prev))
        return target.seq


def test_anchors_cover_the_heads_that_moved_and_follow_each_other(anchoring: World) -> None:
    world = anchoring
    a, b = world.start(), world.start()
    first = create_anchor(world.aqd)
    assert first["contracts"] == 2 and first["error"] is None
    assert first["stamped"] == [first["anchor"]]
    assert create_anchor(world.aqd)["anchor"] is None  # nothing moved since
    claim(world, a)
    second = create_anchor(world.aqd)
    assert second["contracts"] == 1 and second["stamped"] == [second["anchor"]]
    with world.aqd.session() as s:
        leaves = s.execute(
            select(ChainAnchorLeaf.anchor_id, ChainAnchorLeaf.contract_id, ChainAnchorLeaf.seq)
        ).all()
        heads = {c.id: (c.last_seq, c.chain_head) for c in s.scalars(select(Contract))}
        anchors = {x.id: x for x in s.scalars(select(ChainAnchor))}
        listed = list_anchors(s)
    assert sorted(leaves) == sorted(
        [(first["anchor"], a, 1), (first["anchor"], b, 1), (second["anchor"], a, heads[a][0])]
    )
    # the root is the documented text's SHA-256, chained to the previous anchor's root
    one, two = anchors[first["anchor"]], anchors[second["anchor"]]
    assert two.prev_root == one.root
    assert two.root == root_of(one.root, two.anchored_at, [(a, *heads[a])])
    assert [x["id"] for x in listed] == [two.id, one.id] and "development TSA" in listed[0]["tsa"]
    report = verify_anchors(world.aqd).to_dict()
    assert report["ok"] and (report["anchors"], report["leaves"]) == (2, 3)
    assert report["unstamped"] == [] and report["last_stamped_at"] is not None


def test_a_rewritten_history_no_longer_reaches_its_anchored_head(anchoring: World) -> None:
    world = anchoring
    a, b = world.start(), world.start()
    claim(world, a)
    claim(world, b)
    create_anchor(world.aqd)
    with world.aqd.session() as s:
        anchored_seq = s.scalar(select(Contract.last_seq).where(Contract.id == a))
    seq = rewrite_claim(world, a, "someone.else")
    assert seq <= (anchored_seq or 0)
    # Replay and the chain cannot tell: the rewritten event is not re-executed and the chain
    # was recomputed. A contract not anchored yet is the window an anchor period leaves.
    c = world.start()
    claim(world, c)
    rewrite_claim(world, c, "someone.else")
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, a)
        assert replay_contract(world.aqd, s, c).ok
    assert not report.ok and report.first_divergent_seq == anchored_seq
    assert "no longer has the chain hash anchored at" in report.problems[0], report.problems
    batch = verify_contracts(world.aqd, [a, b, c])
    assert [f["contract_id"] for f in batch.failed] == [a] and batch.passed == 2
    assert batch.anchored == 1  # b; a no longer reaches its head, c has none yet


def test_rewritten_leaves_or_roots_fail_the_anchors_verification(anchoring: World) -> None:
    world = anchoring
    a = world.start()
    claim(world, a)
    first = create_anchor(world.aqd)["anchor"]
    rewrite_claim(world, a, "someone.else")
    with world.aqd.session() as s:
        new_head = s.scalar(select(Contract.chain_head).where(Contract.id == a))
        anchor = s.get(ChainAnchor, first)
        assert anchor is not None
        old_root, at = anchor.root, anchor.anchored_at
    # the forger makes the leaf match the rewritten chain: the contract passes again ...
    with world.aqd.session() as s, s.begin():
        s.execute(update(ChainAnchorLeaf).values(head=new_head))
    assert verify_contracts(world.aqd, [a]).passed == 1
    # ... but the anchor's root no longer comes from its leaves
    failed = verify_anchors(world.aqd).to_dict()["failed"]
    assert failed == [{"anchor": first, "problem": f"anchor {first}'s leaves or root were altered"}]
    # and a recomputed root is not what the TSA time-stamped
    with world.aqd.session() as s, s.begin():
        with_seq = s.scalar(select(Contract.last_seq).where(Contract.id == a))
        forged = root_of(anchor.prev_root, at, [(a, int(with_seq or 0), str(new_head))])
        assert forged != old_root
        s.execute(update(ChainAnchor).where(ChainAnchor.id == first).values(root=forged))
    failed = verify_anchors(world.aqd).to_dict()["failed"]
    assert failed == [
        {"anchor": first, "problem": f"anchor {first}: the time-stamp token is not over this root"}
    ]


def test_an_anchor_the_tsa_did_not_stamp_is_stamped_by_the_next_run(
    anchoring: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time-stamping service is outside Aqd: when it does not answer, the anchor is kept
    and reported, and the next run stamps it before anchoring anything new."""
    world = anchoring
    a = world.start()

    def down(aqd: object, digest: bytes) -> tuple[bytes, str]:
        raise OSError("connection refused")

    stamper = world.aqd.plugins.timestamper
    assert stamper is not None
    monkeypatch.setattr(stamper, "stamp", down)
    failed = create_anchor(world.aqd)
    assert failed["contracts"] == 1 and failed["stamped"] == []
    assert (
        failed["error"] == f"anchor {failed['anchor']} is not time-stamped yet: connection refused"
    )
    assert verify_anchors(world.aqd).unstamped == [failed["anchor"]]
    claim(world, a)
    blocked = create_anchor(world.aqd)  # still down: nothing new is anchored over it
    assert blocked["anchor"] is None and blocked["error"]
    monkeypatch.undo()  # the service is back
    again = create_anchor(world.aqd)
    assert again["stamped"] == [failed["anchor"], again["anchor"]] and again["contracts"] == 1
    report = verify_anchors(world.aqd)
    assert report.unstamped == [] and not report.failed and report.anchors == 2


def test_the_merkle_tree_is_rfc_6962_s_and_every_leaf_has_a_path() -> None:
    def reference(leaves: list[tuple[int, int, str]]) -> bytes:  # RFC 6962, section 2.1
        if len(leaves) == 1:
            return hashlib.sha256(b"\x00" + "{} {} {}".format(*leaves[0]).encode()).digest()
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        left, right = reference(leaves[:k]), reference(leaves[k:])
        return hashlib.sha256(b"\x01" + left + right).digest()

    for n in [*range(1, 34), 100, 1025]:
        leaves = [(i, i % 7 + 1, hashlib.sha256(str(i).encode()).hexdigest()) for i in range(n)]
        root = merkle_root(leaves)
        assert root == reference(leaves).hex(), n
        for i in {0, n // 2, n - 1}:
            assert root_from_proof(leaves[i], inclusion_proof(leaves, i)) == root
        assert root_from_proof((n, 1, "0" * 64), inclusion_proof(leaves, n - 1)) != root


def test_an_audit_package_carries_the_anchor_an_offline_verifier_checks(
    anchoring: World,
) -> None:
    """The package holds the latest anchored head, its Merkle path (among other contracts'
    leaves) and the token; a package exported from a rewritten history is consistent but no
    longer reaches its anchor, and one exported before any anchor says it is not anchored."""
    world = anchoring
    a = world.start()
    with world.aqd.session() as s:
        plain = verify_package(build_package(s, a, world.clock.now()), world.aqd)
    assert plain.ok and plain.anchored is None
    others = [world.start() for _ in range(4)]
    claim(world, a)
    create_anchor(world.aqd)
    with world.aqd.session() as s:
        package = build_package(s, a, world.clock.now())
        seq = s.scalar(select(Contract.last_seq).where(Contract.id == a))
    report = verify_package(package, world.aqd)
    assert report.ok, report.problems
    assert report.anchored is not None and report.anchored["seq"] == seq
    assert "development TSA" in report.anchored["tsa"]
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        proof = json.loads(archive.read("anchor.json"))
    assert proof["leaves"] == 1 + len(others) and len(proof["path"]) == 3

    # without trust settings the token cannot be checked: said, not crashed on
    unchecked = verify_package(package)
    assert not unchecked.ok and "without trust settings" in unchecked.problems[-1]

    rewrite_claim(world, a, "someone.else")
    with world.aqd.session() as s:
        forged = verify_package(build_package(s, a, world.clock.now()), world.aqd)
    assert not forged.ok and forged.anchored is None
    assert any("does not reach the head anchored at" in p for p in forged.problems)
