"""Server metrics in the Prometheus text format (``GET /metrics``), with no dependency.

Counters and one histogram, updated on the server's event loop: turns by kind and outcome,
failures by reason, first-sentence latency (socket or HTTP message to the first sentence
sent), the server's own share of it, tokens in and out, active sessions and turns, HTTP requests by route and status.
"""

from __future__ import annotations

from collections import defaultdict, deque

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Upper bounds (seconds) of the first-sentence latency histogram.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


#: Recent samples kept for the server-overhead quantiles.
OVERHEAD_SAMPLES = 10_000
OVERHEAD_QUANTILES = (0.5, 0.9, 0.99)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{k}="' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        for k, v in pairs
    )
    return "{" + inner + "}"


class Metrics:
    """The counters one server process keeps."""

    def __init__(self) -> None:
        self.turns: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.failures: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.tokens = {"prompt": 0, "completion": 0}
        self.bucket_counts = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.active_sessions = 0
        self.active_turns = 0
        self.refused: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.overheads: deque[float] = deque(maxlen=OVERHEAD_SAMPLES)

    def turn_finished(self, kind: str, outcome: str, reason: str | None = None) -> None:
        self.turns[(("kind", kind), ("outcome", outcome))] += 1
        if reason is not None:
            self.failures[(("reason", reason),)] += 1

    def first_sentence(self, seconds: float) -> None:
        self.latency_sum += seconds
        self.latency_count += 1
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.bucket_counts[i] += 1
                break

    def overhead(self, seconds: float) -> None:
        """The server's own share of a first sentence's latency (see TurnRun)."""
        self.overheads.append(seconds)

    def used_tokens(self, prompt: int, completion: int) -> None:
        self.tokens["prompt"] += prompt
        self.tokens["completion"] += completion

    def request(self, route: str, status: int) -> None:
        self.requests[(("route", route), ("status", str(status)))] += 1

    def refusal(self, code: str) -> None:
        self.refused[(("code", code),)] += 1

    def render(self) -> str:
        """Everything, in the Prometheus text exposition format 0.0.4."""
        out: list[str] = []

        def family(
            name: str, kind: str, help_text: str, rows: dict[tuple[tuple[str, str], ...], int]
        ) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in sorted(rows.items()):
                out.append(f"{name}{_labels(labels)} {value}")

        family("npc_turns_total", "counter", "Turns finished, by kind and outcome.", self.turns)
        family("npc_turn_failures_total", "counter", "Failed turns by reason.", self.failures)
        family("npc_tokens_total", "counter", "Model tokens, by direction.",
               {(("direction", k),): v for k, v in self.tokens.items()})  # fmt: skip
        family("npc_active_sessions", "gauge", "Open sockets.", {(): self.active_sessions})
        family("npc_active_turns", "gauge", "Turns running.", {(): self.active_turns})
        family(
            "npc_http_requests_total",
            "counter",
            "HTTP requests by route and status.",
            self.requests,
        )
        family("npc_refused_total", "counter", "Requests refused, by error code.", self.refused)
        name = "npc_first_sentence_seconds"
        out.append(f"# HELP {name} From a turn's request to its first sentence sent.")
        out.append(f"# TYPE {name} histogram")
        running = 0
        for bound, count in zip(LATENCY_BUCKETS, self.bucket_counts, strict=True):
            running += count
            out.append(f'{name}_bucket{{le="{bound}"}} {running}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.latency_count}')
        out.append(f"{name}_sum {self.latency_sum:.6f}")
        out.append(f"{name}_count {self.latency_count}")
        name = "npc_server_overhead_seconds"
        out.append(
            f"# HELP {name} The server's own share of first-sentence latency (parsing and "
            "starting a turn, then delivering its first sentence), recent turns."
        )
        out.append(f"# TYPE {name} summary")
        samples = sorted(self.overheads)
        for q in OVERHEAD_QUANTILES:
            value = (
                samples[min(len(samples) - 1, round(q * (len(samples) - 1)))]
                if samples
                else float("nan")
            )
            out.append(f'{name}{{quantile="{q}"}} {value:.6f}')
        out.append(f"{name}_sum {sum(samples):.6f}")
        out.append(f"{name}_count {len(samples)}")
        return "\n".join(out) + "\n"
