"""Dispatch over pipes: which worker process gets which queued rows, and how they travel.

``place_locked`` moves queued chunks onto workers with room (under the
admission lock): a short queue goes one query at a time to whichever worker is
free (pull: nothing waits behind a long query while another worker idles); a
long queue means saturation, and then every worker also holds a prefetched
chunk, so it never waits for a round trip, and a chunk grows up to about
``CHUNK_S`` of work (a message costs the parent a few hundred µs of CPU on a
busy machine, so chunks of a few rows would make coordination the
bottleneck).  ``wire_locked`` turns the placed chunks into one message per
worker; ``send_all`` writes them, outside the lock.
"""

from __future__ import annotations

from typing import Any, Callable

from pspread.engine.model import SpreadModel
from pspread.execution.admission import Admission, Chunk, Deliveries
from pspread.execution.answers import SeedBlock
from pspread.execution.slots import Slot

#: most work one chunk holds at saturation (a worker holds two: one computing, one waiting)
CHUNK_S = 0.25
#: one worker's message: the slot, its chunks as they travel, the models it has not seen yet
Send = tuple[Slot, list[tuple[Any, ...]], "list[tuple[int, SpreadModel]] | None"]
#: ``reject(slot, chunk key, why)``: a chunk that cannot travel ends ``INVALID``
Reject = Callable[[Slot, int, str], None]


def depth_for(queued: int, workers: int, max_depth: int, mean_compute_s: float) -> int:
    """Rows each worker may hold: the queue's share, capped by ``max_depth`` and ~2 × ``CHUNK_S`` of work."""
    by_time = 2 * (int(CHUNK_S / mean_compute_s) + 1) if mean_compute_s > 0 else max_depth
    return max(1, min(max_depth, -(-queued // workers) - 1, by_time))


def place_locked(adm: Admission, accepting: list[Slot], pick: Callable[[list[Slot]], int], depth: int,
                 out: Deliveries) -> list[tuple[Slot, list[Chunk]]]:
    """Take queued chunks onto workers with fewer than ``depth`` rows, half a depth at a time."""
    piece = max(1, -(-depth // 2))
    room = [s for s in accepting if s.inflight_rows < depth]
    per_slot: dict[int, tuple[Slot, list[Chunk]]] = {}
    while adm.queued and adm.inflight < adm.max_in_flight and room:
        slot = room[pick(room)]
        n = min(depth - slot.inflight_rows, piece, adm.max_in_flight - adm.inflight)
        c = adm.take_locked(n, out)
        if c is None:
            break
        c.worker = slot.index
        slot.inflight[c.key] = c
        slot.inflight_rows += c.rows
        per_slot.setdefault(slot.index, (slot, []))[1].append(c)
        if slot.inflight_rows >= depth:
            room.remove(slot)
    return list(per_slot.values())


def wire_locked(adm: Admission, placed: list[tuple[Slot, list[Chunk]]]) -> list[Send]:
    """One message per worker: ``(key, model_id, top_k, deadline, seeds)`` per chunk, plus models new to it."""
    sends: list[Send] = []
    for slot, chunks in placed:
        wire = []
        new: list[tuple[int, SpreadModel]] | None = None
        for c in chunks:
            b = c.batch
            seeds = b.payload(c.start, c.stop)
            wire.append((c.key, b.model_id, b.top_k, c.deadline,
                         seeds.to_wire() if isinstance(seeds, SeedBlock) else seeds))
            if b.model_id and b.model_id not in slot.known_models:
                slot.known_models.add(b.model_id)
                (new := new or []).append((b.model_id, adm.models[b.model_id]))
        sends.append((slot, wire, new))
    return sends


def send_all(sends: list[Send], reject: Reject) -> None:
    """Write each worker's message to its pipe (outside the admission lock)."""
    for slot, wire, models in sends:
        try:
            with slot.send_lock:
                try:
                    slot.conn.send(("q", models, wire))
                except (OSError, EOFError, ValueError):
                    raise
                except Exception:  # noqa: BLE001 - a chunk that cannot be pickled
                    _send_one_by_one(slot, wire, models, reject)
        except (OSError, ValueError, EOFError):
            pass  # the worker died; its sentinel tells the receiver, which retries these chunks


def _send_one_by_one(slot: Slot, wire: list[tuple[Any, ...]], models: Any, reject: Reject) -> None:
    """Find the chunks that cannot travel (pickling failed) and have them answered ``INVALID``."""
    for item in wire:
        try:
            slot.conn.send(("q", models, [item]))
            models = None
        except (OSError, EOFError, ValueError):
            raise
        except Exception as exc:  # noqa: BLE001
            reject(slot, item[0], f"the query cannot be sent to a worker: {type(exc).__name__}: {exc}; give seeds "
                                  "as a list of ints, a {id: activation} dict or a text")
