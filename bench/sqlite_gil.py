"""Why the vote writer moves rows as JSON: a statement per row under a busy event loop.

    uv run python -m bench.sqlite_gil [--rows 2000] [--rounds 5]

Python's sqlite3 releases the GIL around every step of a statement (each row of an
executemany). When another thread is busy running Python (in the bot: the event loop parsing
gateway frames), re-acquiring the GIL after each step waits for that thread to give it up, up
to the interpreter's switch interval (5 ms). This writes the same rows two ways, alone and
while a second thread spins, and prints the medians:
  - executemany: one step per row;
  - json_each: the rows as one JSON document, one step for the whole statement.
Writes bench/results/sqlite_gil.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.common import median, write_result

SCHEMA = "CREATE TABLE votes (idea_id INTEGER, voter_id INTEGER, value INTEGER, PRIMARY KEY (idea_id, voter_id))"


def per_row(conn: sqlite3.Connection, rows: list[tuple[int, int, int]]) -> None:
    conn.executemany("INSERT INTO votes VALUES (?, ?, ?)", rows)


def one_document(conn: sqlite3.Connection, rows: list[tuple[int, int, int]]) -> None:
    conn.execute(
        "INSERT INTO votes SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]') FROM json_each(?)",
        (json.dumps(rows),),
    )


def timed(write: Callable[[sqlite3.Connection, list[tuple[int, int, int]]], None], rows: list[Any]) -> float:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute(SCHEMA)
    started = time.perf_counter()
    write(conn, rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def while_busy(measure: Callable[[], float]) -> float:
    """Run `measure` on a worker thread while this thread runs Python non-stop, as the event
    loop does during a burst."""
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(measure()))
    worker.start()
    spins = 0
    while not result:  # pure bytecode: never gives up the GIL on its own
        spins += 1
    worker.join()
    return result[0]


def main(args: argparse.Namespace) -> dict[str, Any]:
    rows = [(i % 50, i, 1) for i in range(args.rows)]
    figures: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, write in (("executemany", per_row), ("json_each", one_document)):
            figures.setdefault(f"{name}_alone_s", []).append(timed(write, rows))
            figures.setdefault(f"{name}_busy_loop_s", []).append(while_busy(lambda write=write: timed(write, rows)))
    return {
        "rows": args.rows,
        "rounds": args.rounds,
        "switch_interval_s": sys.getswitchinterval(),
        **{name: median(values) for name, values in figures.items()},
        "per_round": figures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    outcome = main(parser.parse_args())
    path = write_result("sqlite_gil", outcome)
    for how in ("executemany", "json_each"):
        alone, busy = outcome[f"{how}_alone_s"], outcome[f"{how}_busy_loop_s"]
        rows = outcome["rows"]
        print(f"{how:12} {rows} rows: alone {alone * 1000:.1f} ms, beside a busy thread {busy * 1000:.1f} ms")
    print(f"-> {path}")
