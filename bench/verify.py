"""How long `sigkit verify` takes, one claim a call against many claims in one call; one JSON line.

    python bench/verify.py [claims=8] [methods=distance,wd-aligned]

On the embedded synthetic set (no corpus needed): `claims` questioned signatures of 4 writers,
5 references each, verified (a) by one `sigkit verify` command per claim, as a script looping
over files would, and (b) by one `sigkit verify --claims` command for all of them (the model
loaded, each file checked and embedded, each writer's classifier fitted once). Wall seconds
of whole commands, start-up included, each method apart; the verdicts of (a) and (b) compared.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import parse_overrides, to_json

from sigkit.paths import default_data


def claim_rows(folder: Path, n_claims: int) -> list[tuple[str, list[Path], Path]]:
    """(writer, 5 references, questioned) for `n_claims` questioned files of 4 writers, genuine and forged in turn."""
    rows = []
    for i in range(n_claims):
        writer = 1 + i % 4
        genuine = sorted((folder / "full_org").glob(f"original_{writer}_*.png"))
        forged = sorted((folder / "full_forg").glob(f"forgeries_{writer}_*.png"))
        questioned = genuine[5 + i // 8] if i % 8 < 4 else forged[i // 8]
        rows.append((str(writer), genuine[:5], questioned))
    return rows


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench/verify.py: {' '.join(command[:3])} ... failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def compare(n_claims: int, method: str, folder: Path) -> dict:
    sigkit = [sys.executable, "-m", "sigkit.cli", "verify", "--method", method]
    rows = claim_rows(folder, n_claims)
    one_by_one, verdicts = 0.0, []
    for _, references, questioned in rows:
        seconds, out = timed([*sigkit, "--reference", *map(str, references), "--questioned", str(questioned)])
        one_by_one += seconds
        verdicts.append("GENUINE" in out.splitlines()[0])
    with tempfile.TemporaryDirectory() as scratch:
        claims = Path(scratch) / "claims.csv"
        lines = [f"{w},{';'.join(map(str, refs))},{q}" for w, refs, q in rows]
        claims.write_text("writer,references,questioned\n" + "\n".join(lines) + "\n")
        together, out = timed([*sigkit, "--claims", str(claims)])
    batch = [line.split(",")[6] == "genuine" for line in out.strip().splitlines()[1:]]
    return {
        "method": method,
        "claims": n_claims,
        "one_call_each_s": round(one_by_one, 1),
        "per_claim_s": round(one_by_one / n_claims, 2),
        "claims_file_s": round(together, 1),
        "speed_up": round(one_by_one / together, 1),
        "same_verdicts": batch == verdicts,
    }


def main() -> None:
    overrides = parse_overrides(sys.argv[1:])
    n_claims = int(overrides.get("claims", 8))
    methods = str(overrides.get("methods", "distance,wd-aligned")).split(",")
    folder = default_data()
    for method in methods:
        print(to_json(compare(n_claims, method, folder)), flush=True)


if __name__ == "__main__":
    main()
