"""A short-lived, bounded, in-process cache of what sources returned.

Keys always begin with the practice and the patient, so one patient's entries can never answer
for another's; values are kept serialised (pickle, of what this process itself loaded) and each
hit gets its own fresh copy, so a caller cannot change what the next one sees (unpickling a list of
FHIR resources is several times faster than ``copy.deepcopy``). A lifetime of 0 turns caching off.
"""
from __future__ import annotations

import pickle
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable


class TtlCache:
    def __init__(self, seconds: float, *, max_entries: int = 2048, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.max_entries, self.clock = seconds, max_entries, clock
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_load(self, practice_id: str, patient_id: str, key: tuple, load: Callable[[], Any]) -> Any:
        if self.seconds <= 0:
            return load()
        full_key = (practice_id, patient_id, *key)
        now = self.clock()
        with self._lock:
            found = self._entries.get(full_key)
            if found is not None and found[0] > now:
                self._entries.move_to_end(full_key)
                self.hits += 1
                stored = found[1]
            else:
                stored = None
        if stored is not None:
            return pickle.loads(stored)
        self.misses += 1
        value = load()
        stored = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._entries[full_key] = (now + self.seconds, stored)
            self._entries.move_to_end(full_key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
