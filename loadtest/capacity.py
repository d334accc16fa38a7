"""The `capacity` profile: how many new questions per second the service answers within target.

Two phases, one Locust run (`make loadtest PROFILE=capacity`):

1. **hold**: 100 users (`CapacityUser`), each asking as soon as 1 s after its last answer, with
   the query mix of `rag:query:*` (70 % repeats of popular questions, 30 % never asked before).
   Gated like any profile: new questions (`rag:query:unseen`) P95 within the RAG target, cached
   ones (`rag:query:popular`) within their own, nothing shed.
2. **steps**: only new questions (`capacity:new`), at a rate that steps up (`step_rate` more per
   second every `step_seconds`), paced open-loop by `NewQuestionUser`s that logged in beforehand
   (so no login burst lands in a step). After each step its P95 is computed from the requests it
   issued; the first step whose P95 passes the target, or that sheds or fails anything, ends the
   run. The highest rate that held is the capacity.

Every request is recorded (`requests.csv`) and every step's window (`steps.json`), so the figures
are recomputed from raw data after the run (`analyse`), not read from Locust's rolling windows.
A request also records the time the API reported for it (`Server-Timing: app`), so the report
shows how much of a class's latency the service itself spent and how much went to waiting
outside it (the machine's cores, the sockets, the load generator).
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NEW_QUESTION = "capacity:new"
RECORD_GRACE_SECONDS = 2.0


# How often a step user looks again while no step is running.
IDLE_POLL_SECONDS = 0.5


class Pacer:
    """One step user's share of an open-loop rate: `users` pacers together ask `rate` a second.

    A user asks only when a paced wait brought it there (`due`). Otherwise every user idling
    before a step would ask at the step's first instant, a burst of all of them at once rather than
    the step's rate. The first wait of a step is spread at random over one interval.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._next: float | None = None
        self._rng = rng or random.Random()

    def due(self) -> bool:
        return self._next is not None

    def wait(self, rate: float, users: int, now: float) -> float:
        if rate <= 0:
            self._next = None
            return IDLE_POLL_SECONDS
        interval = users / rate
        if self._next is None or self._next < now - interval:
            # First question of a step, or so far behind that catching up would burst.
            self._next = now + self._rng.uniform(0, interval)
        else:
            self._next += interval
        return max(0.0, self._next - now)


@dataclass(frozen=True)
class CapacityPlan:
    users: int = 100
    ramp_seconds: float = 30.0
    hold_seconds: float = 180.0
    step_users: int = 40
    warmup_seconds: float = 20.0
    step_rate: float = 4.0
    step_seconds: float = 30.0
    max_steps: int = 20
    p95_target_ms: float = 200.0

    @classmethod
    def scaled(cls, scale: float, users: int = 100) -> CapacityPlan:
        base = cls(users=users)
        return cls(
            users=users,
            ramp_seconds=max(5.0, base.ramp_seconds * scale),
            hold_seconds=max(10.0, base.hold_seconds * scale),
            step_users=min(base.step_users, users),
            warmup_seconds=max(5.0, base.warmup_seconds * scale),
            step_rate=base.step_rate,
            step_seconds=max(5.0, base.step_seconds * scale),
            max_steps=base.max_steps,
            p95_target_ms=base.p95_target_ms,
        )

    @property
    def steps_start(self) -> float:
        return self.ramp_seconds + self.hold_seconds + self.warmup_seconds

    def accounts_needed(self) -> int:
        return self.users + self.step_users


@dataclass(frozen=True)
class Request:
    at: float  # seconds since the test started
    name: str
    ms: float
    outcome: str  # ok | shed | error
    app_ms: float | None = None  # the API's own time (Server-Timing), when it sent one


def app_duration_ms(server_timing: str | None) -> float | None:
    """The `app` metric's duration in a `Server-Timing` header value, if there is one."""
    for metric in (server_timing or "").split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name != "app":
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "dur":
                try:
                    ms = float(value)
                except ValueError:
                    return None
                return ms if math.isfinite(ms) and ms >= 0 else None
    return None


@dataclass
class Step:
    index: int
    rate: float
    start: float
    end: float
    requests: int = 0
    achieved_rate: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    shed: int = 0
    errors: int = 0
    held: bool = False


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank, as the gate reads Locust's."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def measure_step(step: Step, requests: list[Request], target_ms: float) -> Step:
    """A step's figures from the requests it issued (by start time within its window)."""
    mine = [r for r in requests if r.name == NEW_QUESTION and step.start <= r.at < step.end]
    ok = [r.ms for r in mine if r.outcome == "ok"]
    step.requests = len(mine)
    step.achieved_rate = len(mine) / max(step.end - step.start, 1e-9)
    step.p50_ms, step.p95_ms, step.p99_ms = (percentile(ok, q) for q in (50, 95, 99))
    step.shed = sum(r.outcome == "shed" for r in mine)
    step.errors = sum(r.outcome == "error" for r in mine)
    step.held = bool(
        ok and step.p95_ms is not None and step.p95_ms <= target_ms and not step.shed
        and not step.errors
    )  # fmt: skip
    return step


MAX_EXTRA_WARMUP_SECONDS = 60.0


@dataclass
class Schedule:
    """What the load shape runs when, deciding the next step from the last one's figures."""

    plan: CapacityPlan
    steps: list[Step] = field(default_factory=list)
    stopped: bool = False
    # Extra warm-up spent waiting for the step users to sign in (Argon2 on a loaded machine can
    # take longer than the planned warm-up); a step must never start before its users can ask.
    late_by: float = 0.0
    waiting: bool = False
    begun: bool = False

    @property
    def steps_start(self) -> float:
        return self.plan.steps_start + self.late_by

    def wait_for(self, elapsed: float, ready_users: int) -> None:
        """Holds the first step back while fewer than `step_users` are signed in, for at most
        MAX_EXTRA_WARMUP_SECONDS (then the steps run with whoever is ready)."""
        p = self.plan
        if self.begun or elapsed < p.steps_start:
            return
        late = elapsed - p.steps_start
        self.waiting = ready_users < p.step_users and late < MAX_EXTRA_WARMUP_SECONDS
        if self.waiting or late >= MAX_EXTRA_WARMUP_SECONDS:
            self.late_by = min(MAX_EXTRA_WARMUP_SECONDS, late)

    def phase(self, elapsed: float) -> tuple[str, int, float]:
        """(phase, users, target new-question rate) at `elapsed` seconds."""
        p = self.plan
        if elapsed < p.ramp_seconds + p.hold_seconds:
            return "hold", p.users, 0.0
        if elapsed < self.steps_start or self.waiting:
            return "warmup", p.step_users, 0.0
        if self.stopped:
            return "done", 0, 0.0
        self.begun = True
        index = int((elapsed - self.steps_start) // p.step_seconds)
        if index >= p.max_steps:
            return "done", 0, 0.0
        return "steps", p.step_users, p.step_rate * (index + 1)

    def advance(self, elapsed: float, requests: list[Request]) -> None:
        """Close every step that has ended and stop after the first that didn't hold."""
        p = self.plan
        while not self.stopped:
            index = len(self.steps)
            start = self.steps_start + index * p.step_seconds
            end = start + p.step_seconds
            # A little grace, so the step's slowest requests have come back and are recorded.
            if index >= p.max_steps or elapsed < end + RECORD_GRACE_SECONDS:
                return
            step = measure_step(
                Step(index, p.step_rate * (index + 1), start, end), requests, p.p95_target_ms
            )
            self.steps.append(step)
            if not step.held:
                self.stopped = True

    def highest_held(self) -> Step | None:
        held = [s for s in self.steps if s.held]
        return max(held, key=lambda s: s.rate) if held else None

    def to_json(self) -> dict[str, Any]:
        best = self.highest_held()
        return {
            "plan": asdict(self.plan),
            "steps": [asdict(s) for s in self.steps],
            "highest_rate_held": best.rate if best else 0.0,
            "warmup_extended_seconds": round(self.late_by, 1),
        }


def write_requests(path: Path, requests: list[Request]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["at", "name", "ms", "outcome", "app_ms"])
        for r in requests:
            app_ms = "" if r.app_ms is None else f"{r.app_ms:.1f}"
            writer.writerow([f"{r.at:.3f}", r.name, f"{r.ms:.1f}", r.outcome, app_ms])


def read_requests(path: Path) -> list[Request]:
    with path.open(newline="") as fh:
        # Runs recorded before the API's own time was kept have no `app_ms` column.
        return [
            Request(
                float(r["at"]),
                r["name"],
                float(r["ms"]),
                r["outcome"],
                float(r["app_ms"]) if r.get("app_ms") else None,
            )
            for r in csv.DictReader(fh)
        ]


def analyse(out_dir: Path) -> dict[str, Any] | None:
    """Recompute every step from the recorded requests; write capacity.json/.md and a chart."""
    steps_path, requests_path = out_dir / "steps.json", out_dir / "requests.csv"
    if not steps_path.exists() or not requests_path.exists():
        return None
    recorded = json.loads(steps_path.read_text())
    plan = CapacityPlan(**recorded["plan"])
    requests = read_requests(requests_path)
    schedule = Schedule(plan)
    schedule.advance(float("inf"), requests)
    # The run may have stopped before max_steps: keep only the steps it ran.
    schedule.steps = schedule.steps[: len(recorded["steps"])]
    result = schedule.to_json()
    hold = [r for r in requests if r.name.startswith("rag:query:")]
    result["hold"] = _classes(hold)
    # The ramp signs 100 users in within seconds (Argon2 on the same cores): the steady state is
    # reported on its own, next to the whole hold the gate reads.
    end = plan.ramp_seconds + plan.hold_seconds
    result["hold_steady"] = _classes([r for r in hold if plan.ramp_seconds <= r.at < end])
    (out_dir / "capacity.json").write_text(json.dumps(result, indent=1))
    (out_dir / "capacity.md").write_text("\n".join(markdown(result)) + "\n")
    chart(result, out_dir / "capacity.png")
    return result


def _classes(requests: list[Request]) -> dict[str, dict[str, Any]]:
    """Per request class: count, P50/P95/P99 of the answered ones (as the client saw them, and
    as the API reported them), shed and errors."""
    return {
        name: {
            "requests": len(rs),
            "p50_ms": percentile([r.ms for r in ok], 50),
            "p95_ms": percentile([r.ms for r in ok], 95),
            "p99_ms": percentile([r.ms for r in ok], 99),
            "app_p50_ms": percentile(app, 50),
            "app_p95_ms": percentile(app, 95),
            "shed": sum(r.outcome == "shed" for r in rs),
            "errors": sum(r.outcome == "error" for r in rs),
        }
        for name in sorted({r.name for r in requests})
        for rs in [[r for r in requests if r.name == name]]
        for ok in [[r for r in rs if r.outcome == "ok"]]
        for app in [[r.app_ms for r in ok if r.app_ms is not None]]
    }


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


CLASS_HEADER = [
    "| class | requests | P50 ms | P95 ms | P99 ms | shed | errors | in the API P50 / P95 ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]


def _class_rows(classes: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"| `{name}` | {h['requests']} | {_ms(h['p50_ms'])} | {_ms(h['p95_ms'])} | "
        f"{_ms(h['p99_ms'])} | {h['shed']} | {h['errors']} | "
        f"{_ms(h.get('app_p50_ms'))} / {_ms(h.get('app_p95_ms'))} |"
        for name, h in classes.items()
    ]


def markdown(result: dict[str, Any]) -> list[str]:
    plan = result["plan"]
    lines = [
        "## Capacity",
        "",
        f"Hold: {plan['users']} users, 1 s think time, {plan['hold_seconds']:.0f} s "
        f"(after a {plan['ramp_seconds']:.0f} s ramp).",
        "",
        *CLASS_HEADER,
    ]
    lines += _class_rows(result["hold"])
    if result.get("hold_steady"):
        lines += [
            "",
            f"The same hold after the ramp ({plan['hold_seconds']:.0f} s, steady state):",
            "",
            *CLASS_HEADER,
            *_class_rows(result["hold_steady"]),
        ]
    lines += [
        "",
        "The API's own time comes from each response's `Server-Timing: app` header; the rest of "
        "a request's time was spent outside the service.",
        "",
        f"Steps: new questions only, +{plan['step_rate']:g}/s every {plan['step_seconds']:.0f} s "
        f"until P95 passes {plan['p95_target_ms']:.0f} ms or anything is shed. "
        f"**Highest rate that held: {result['highest_rate_held']:g} new questions/s.**",
        "",
        "| offered /s | achieved /s | requests | P50 ms | P95 ms | P99 ms | shed | errors | held |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in result["steps"]:
        lines.append(
            f"| {s['rate']:g} | {s['achieved_rate']:.1f} | {s['requests']} | {_ms(s['p50_ms'])} | "
            f"{_ms(s['p95_ms'])} | {_ms(s['p99_ms'])} | {s['shed']} | {s['errors']} | "
            f"{'yes' if s['held'] else '**no**'} |"
        )
    lines += ["", "![P95 against the offered rate](capacity.png)"]
    return lines


def chart(result: dict[str, Any], path: Path) -> None:
    steps = result["steps"]
    if not steps:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    rates = [s["rate"] for s in steps]
    for key, label in (("p50_ms", "P50"), ("p95_ms", "P95"), ("p99_ms", "P99")):
        ax.plot(rates, [s[key] for s in steps], "o-", label=label)
    ax.axhline(result["plan"]["p95_target_ms"], color="tab:red", linestyle="--", label="target")
    ax.set_xlabel("offered new questions per second")
    ax.set_ylabel("response time (ms)")
    ax.set_title(f"Capacity: held {result['highest_rate_held']:g} new questions/s")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
