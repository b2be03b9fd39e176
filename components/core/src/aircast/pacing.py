"""Client-side pacing shared by the HTTP clients (OpenAQ, Open-Meteo): a sliding-window
request budget, a pause the server asked for (429), and exponential backoff with full jitter.

The clock and the sleep are injected, so the clients' tests run the schedule without waiting.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable


class Pacer:
    """At most ``budget`` requests in any ``window`` seconds, and none before a pause ends.

    ``on_wait`` is told every sleep (the clients add it to their ``waited_seconds``).
    """

    def __init__(
        self,
        budget: int,
        window: float,
        *,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.budget = budget
        self.window = window
        self._sleep = sleep
        self._clock = clock
        self._on_wait = on_wait
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` (nothing when not positive), reporting it to ``on_wait``."""
        if seconds > 0:
            if self._on_wait is not None:
                self._on_wait(seconds)
            self._sleep(seconds)

    def pause(self, seconds: float) -> None:
        """Send nothing for the next ``seconds`` (a 429's reset or Retry-After)."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def _forget_old(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    def before_request(self) -> None:
        """Sleep until one more request keeps within the budget and after any pause."""
        now = self._clock()
        if now < self._blocked_until:
            self.wait(self._blocked_until - now)
            now = self._clock()
        self._forget_old(now)
        if len(self._sent) >= self.budget:
            self.wait(self._sent[0] + self.window - now)
            now = self._clock()
            self._forget_old(now)
        self._sent.append(now)


def backoff(base_seconds: float, attempt: int) -> float:
    """Full-jitter exponential backoff: uniform in [0, ``base_seconds`` * 2**attempt]."""
    return random.uniform(0, base_seconds * (2**attempt))  # noqa: S311 - jitter, not crypto
