"""Signing benchmark: PAdES B-T signatures (sign + RFC 3161 time-stamp) and validations per
second, in one process and in two (2 cores). Last line: one JSON object with
``signatures_per_s`` and ``validations_per_s`` (two processes) plus the one-process figures.

Usage: ``python bench/signing.py [--count N]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signing.pades import Field, add_fields, minimal_pdf, sign, verify
from signing.pki import create_dev_pki, issue_signer


def work(count: int) -> tuple[float, float]:
    """Sign ``count`` contracts, then validate them; returns (signatures/s, validations/s)."""
    dev, keys = create_dev_pki()
    signer = issue_signer(dev, keys["intermediate"], "Amira Ben Salah", "beneficiary")
    blank = add_fields(minimal_pdf("Contrat CIVP"), [Field("SigBeneficiary", (40, 60, 200, 130))])
    started = time.perf_counter()
    signed = [sign(blank, "SigBeneficiary", signer, dev, reason="bench") for _ in range(count)]
    signing = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for pdf in signed:
        [check] = verify(pdf, dev)
        assert check.ok
    validating = count / (time.perf_counter() - started)
    return signing, validating


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--count", type=int, default=60, help="signatures per process")
    args = cli.parse_args()
    one = work(args.count)
    print(f"1 process: {one[0]:.1f} signatures/s, {one[1]:.1f} validations/s", flush=True)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pairs = pool.map(work, [args.count, args.count])
    two = (sum(p[0] for p in pairs), sum(p[1] for p in pairs))
    print(f"2 processes: {two[0]:.1f} signatures/s, {two[1]:.1f} validations/s", flush=True)
    print(
        json.dumps(
            {
                "signatures_per_s": round(two[0], 1),
                "validations_per_s": round(two[1], 1),
                "signatures_per_s_1proc": round(one[0], 1),
                "validations_per_s_1proc": round(one[1], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
