"""Locust scenarios. Pick one by user classes (see loadtest/run.py SCENARIOS):

- rag-query:   RagQueryUser                   (70 % popular repeats / 30 % unseen queries)
- projects:    ProjectsUser                   (projects CRUD + PDF upload through presigned URLs)
- annotations: AnnotationsUser                (annotations CRUD on the user's seeded project)
- school-day:  StudentUser + TeacherUser      (students browse and ask, teachers annotate/upload)
- capacity:    CapacityUser, then NewQuestionUser (profile `capacity`, see loadtest/capacity.py)

Request names are the gate's request classes (`rag:query`, `api:projects:list`, ...). Endpoints the
target does not serve (absent from its OpenAPI document) are skipped and listed in
capabilities.json, so the same file runs against any stage of the product.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any, ClassVar

from locust import LoadTestShape, User, between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.exception import RescheduleTaskImmediately, StopUser

from devtools.devstack.edge import origin_headers
from loadtest.accounts import AccountPool, SeededAccount, read_accounts
from loadtest.api_shapes import (
    Capabilities,
    annotation_body,
    annotation_patch,
    project_create_body,
    upload_target,
)
from loadtest.capacity import (
    NEW_QUESTION,
    CapacityPlan,
    Pacer,
    Request,
    Schedule,
    app_duration_ms,
    write_requests,
)
from loadtest.queries import QueryMix, build_query_sets
from loadtest.shapes import ShapeParams, target_at

PDF_PATH = Path(os.environ.get("LOADTEST_PDF", "")) if os.environ.get("LOADTEST_PDF") else None
OUT_DIR = Path(os.environ["LOADTEST_OUT"]) if os.environ.get("LOADTEST_OUT") else None

# Think time between a user's actions; smoke runs shrink it to get a meaningful sample in 30 s.
THINK_SCALE = float(os.environ.get("LOAD_THINK_SCALE", "1.0"))

_state: dict[str, Any] = {}


def think(low: float, high: float) -> Any:
    return between(low * THINK_SCALE, high * THINK_SCALE)


def _pool() -> AccountPool:
    if "pool" not in _state:
        path = Path(os.environ.get("LOADTEST_USERS_FILE", ".local/loadtest/users.json"))
        _state["pool"] = AccountPool(read_accounts(path))
    pool: AccountPool = _state["pool"]
    return pool


def _mix() -> QueryMix:
    if "mix" not in _state:
        # The capacity profile asks far more new questions than the other profiles.
        size = 20_000 if CAPACITY else 5000
        _state["mix"] = QueryMix(build_query_sets(pool_size=size))
    mix: QueryMix = _state["mix"]
    return mix


def _origin_headers(host: str) -> dict[str, str]:
    """Looked up once: the local secret when the target is a local API (origin lock on)."""
    if "origin" not in _state:
        _state["origin"] = origin_headers(host)
    found: dict[str, str] = _state["origin"]
    return found


def _caps() -> Capabilities:
    caps: Capabilities = _state.get("caps", Capabilities.everything())
    return caps


@events.test_start.add_listener
def _discover(environment: Environment, **_: Any) -> None:
    """Read the target's OpenAPI paths once, so absent features are skipped, not failed."""
    import httpx

    host = environment.host or ""
    try:
        paths = (
            httpx.get(f"{host}/openapi.json", timeout=10, headers=origin_headers(host))
            .json()
            .get("paths", {})
        )
        caps = Capabilities.from_openapi(paths)
    except (httpx.HTTPError, ValueError):
        caps = Capabilities.everything()
    _state["caps"] = caps
    if OUT_DIR is not None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "capabilities.json").write_text(json.dumps(caps.report(), indent=1))


CAPACITY = ShapeParams.from_env().profile == "capacity"
_requests: list[Request] = []
_started: list[float] = []


@events.test_start.add_listener
def _start_clock(environment: Environment, **_: Any) -> None:
    _started.append(time.time())


@events.request.add_listener
def _record_request(
    request_type: str,
    name: str,
    response_time: float,
    exception: Any,
    response: Any = None,
    **_: Any,
) -> None:
    """Every RAG request (capacity profile): its start time, latency, outcome and the API's own
    time for it."""
    if not _started or not CAPACITY or not (name.startswith("rag:") or name == NEW_QUESTION):
        return
    outcome = "ok" if exception is None else ("shed" if "shed:" in str(exception) else "error")
    at = time.time() - response_time / 1000 - _started[0]
    headers = getattr(response, "headers", None) or {}
    app_ms = app_duration_ms(headers.get("server-timing"))
    _requests.append(Request(at, name, response_time, outcome, app_ms))


@events.test_stop.add_listener
def _record_capacity(environment: Environment, **_: Any) -> None:
    if OUT_DIR is not None and _requests:
        write_requests(OUT_DIR / "requests.csv", _requests)


@events.test_stop.add_listener
def _record_mix(environment: Environment, **_: Any) -> None:
    if OUT_DIR is not None and "mix" in _state:
        mix = _mix()
        info = {"popular": len(mix.sets.popular), "pool": len(mix.sets.pool)}
        info["pool_exhausted"] = mix.pool_exhausted
        (OUT_DIR / "query_mix.json").write_text(json.dumps(info))


class SeededUser(FastHttpUser):
    """Logs in once as its own seeded account; every request carries that user's token."""

    abstract = True
    role: ClassVar[str] = "student"
    mixed: ClassVar[bool] = False
    network_timeout = 15.0
    connection_timeout = 5.0
    account: SeededAccount
    headers: dict[str, str]
    project_ids: list[str]

    def on_start(self) -> None:
        self.account = _pool().take(self.role)
        body = {"email": self.account.email, "password": self.account.password}
        # A login that times out during a ramp is counted as a failure and retried: a real user
        # tries again rather than leaving. Three failures and this virtual user gives up.
        for _ in range(3):
            data = self.call("POST", "/api/auth/login", "auth:login", json=body)
            if data is not None:
                break
        else:
            raise StopUser()
        self.headers = {"Authorization": f"Bearer {data['access_token']}"}
        self.project_ids = [self.account.project_id] if self.account.project_id else []

    def call(
        self,
        method: str,
        path: str,
        name: str,
        *,
        json: Any = None,
        expect: tuple[int, ...] = (200, 201, 204),
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        require: str | None = None,
    ) -> Any:
        """One request, failures labelled so the gate can tell shed load from faults."""
        hdrs = headers if headers is not None else getattr(self, "headers", {})
        if path.startswith("/"):  # the API itself (not a presigned storage URL)
            hdrs = {**_origin_headers(self.host or ""), **hdrs}
        with self.client.request(
            method,
            path,
            name=name,
            json=json,
            data=data,  # type: ignore[arg-type]  # bytes are documented as accepted
            headers=hdrs,
            catch_response=True,
        ) as resp:
            status = resp.status_code
            if status in expect:
                body: Any = {}
                if status != 204 and resp.content:
                    try:
                        body = resp.json()
                    except ValueError:
                        body = {}
                if require is not None and (not isinstance(body, dict) or require not in body):
                    # A 2xx without the promised field is a silent failure: count it as one.
                    resp.failure(f"bad-body: no '{require}'")
                    return None
                resp.success()
                return body
            if status in (429, 503):
                resp.failure(f"shed:{status}")
            elif status == 0:
                resp.failure(f"timeout or connection error: {type(resp.error).__name__}")
            else:
                code = ""
                try:
                    code = resp.json().get("error", {}).get("code", "")
                except (ValueError, AttributeError):
                    pass
                resp.failure(f"status:{status} {code}".strip())
            return None

    def did(self, *issued: bool) -> None:
        """End of a task. If it issued nothing (feature not served by the target), mixed profiles
        move on to another task at once, so their time goes to what exists; single-feature users
        idle through their wait."""
        if self.mixed and not any(issued):
            raise RescheduleTaskImmediately()

    # --- behaviours shared by the scenarios -------------------------------------------------

    def ask(self, only_new: bool = False) -> bool:
        if not _caps().rag:
            return False
        # Named per kind so the summary shows repeat (cache-friendly) and unseen latency apart.
        kind, query = _mix().next_unseen() if only_new else _mix().next()
        self.call(
            "POST",
            "/api/chat/query",
            NEW_QUESTION if only_new else f"rag:query:{kind}",
            json={"query": query, "stream": False},
            require="answer",
        )
        return True

    def me(self) -> bool:
        self.call("GET", "/api/auth/me", "api:me")
        return True

    def relationships(self) -> bool:
        self.call("GET", "/api/relationships?page_size=20", "api:relationships:list")
        return True

    def list_projects(self) -> bool:
        if not _caps().projects:
            return False
        data = self.call("GET", "/api/projects?page_size=20", "api:projects:list")
        if data:
            ids = [str(p["id"]) for p in data.get("items", []) if "id" in p]
            if ids:
                self.project_ids = ids[:20]
        return True

    def get_project(self) -> bool:
        if not _caps().projects or not self.project_ids:
            return False
        self.call("GET", f"/api/projects/{random.choice(self.project_ids)}", "api:projects:get")
        return True

    def upload_project(self, keep: bool) -> bool:
        """Create -> PUT the PDF to its presigned URL -> confirm -> rename; optionally delete."""
        if not _caps().projects or PDF_PATH is None:
            return False
        pdf = PDF_PATH.read_bytes()
        created = self.call(
            "POST", "/api/projects", "api:projects:create", json=project_create_body(pdf)
        )
        if not created:
            return True
        project_id, url, put_headers = upload_target(created)
        if url:
            self.call("PUT", url, "storage:put", data=pdf, headers=put_headers, expect=(200,))
            if _caps().project_confirm:
                self.call("POST", f"/api/projects/{project_id}/confirm", "api:projects:confirm")
        self.call(
            "PATCH",
            f"/api/projects/{project_id}",
            "api:projects:update",
            json={"title": f"Practice notes {random.randint(1, 9999)}"},
        )
        if not keep:
            self.call("DELETE", f"/api/projects/{project_id}", "api:projects:delete")
        return True

    def annotate(self) -> bool:
        """List, create (highlight/note/drawing), edit and maybe delete on the user's project."""
        if not _caps().annotations or not self.account.project_id:
            return False
        pid = self.account.project_id
        self.call("GET", f"/api/annotations?project_id={pid}", "api:annotations:list")
        kind = random.choice(("highlight", "note", "drawing"))
        created = self.call(
            "POST", "/api/annotations", "api:annotations:create", json=annotation_body(pid, kind)
        )
        if not created or "id" not in created:
            return True
        aid = created["id"]
        self.call(
            "PATCH",
            f"/api/annotations/{aid}",
            "api:annotations:update",
            json=annotation_patch(kind),
        )
        if random.random() < 0.3:  # most annotations are kept, some undone
            self.call("DELETE", f"/api/annotations/{aid}", "api:annotations:delete")
        return True


class RagQueryUser(SeededUser):
    role = "student"
    wait_time = think(1, 5)

    @task
    def query(self) -> None:
        self.ask()


class ProjectsUser(SeededUser):
    role = "teacher"
    wait_time = think(1, 5)

    @task(6)
    def browse(self) -> None:
        self.list_projects()

    @task(4)
    def open(self) -> None:
        self.get_project()

    @task(1)
    def upload(self) -> None:
        self.upload_project(keep=False)


class AnnotationsUser(SeededUser):
    role = "student"
    wait_time = think(1, 5)

    @task
    def annotate_page(self) -> None:
        self.annotate()


class StudentUser(SeededUser):
    """Browses their own and their teacher's material and asks the assistant."""

    role = "student"
    mixed = True
    weight = 4
    wait_time = think(2, 8)

    @task(6)
    def ask_question(self) -> None:
        self.did(self.ask())

    @task(3)
    def browse(self) -> None:
        self.did(self.list_projects() and self.get_project())

    @task(2)
    def annotate_page(self) -> None:
        self.did(self.annotate())

    @task(1)
    def profile(self) -> None:
        self.did(self.me(), self.relationships())


class TeacherUser(SeededUser):
    """Annotates scores, uploads new PDFs for students, checks on their students."""

    role = "teacher"
    mixed = True
    weight = 1
    wait_time = think(2, 8)

    @task(4)
    def annotate_page(self) -> None:
        self.did(self.annotate())

    @task(2)
    def students(self) -> None:
        self.did(self.relationships())
        self.list_projects()

    @task(1)
    def upload(self) -> None:
        self.did(self.upload_project(keep=True))

    @task(2)
    def ask_question(self) -> None:
        self.did(self.ask())


class CapacityUser(SeededUser):
    """The capacity profile's hold phase: asks again 1 s after each answer, the rag:query mix."""

    role = "student"
    wait_time = constant(1.0)

    @task
    def query(self) -> None:
        self.ask()


class NewQuestionUser(SeededUser):
    """The capacity profile's steps: new questions only, paced so that all of them together ask
    at the shape's current rate (open loop: a slow answer doesn't slow the offered rate down,
    as long as the users outnumber rate x latency)."""

    role = "student"

    signed_in = 0  # step users past their login, across the run

    _counted = False

    def on_start(self) -> None:
        super().on_start()
        self.pacer = Pacer()
        NewQuestionUser.signed_in += 1
        self._counted = True

    def on_stop(self) -> None:
        if self._counted:
            NewQuestionUser.signed_in -= 1
            self._counted = False

    def wait_time(self) -> float:
        shape = _state.get("capacity")
        if not isinstance(shape, SpecShape):
            return self.pacer.wait(0.0, 1, time.monotonic())
        return self.pacer.wait(shape.rate, shape.plan.step_users, time.monotonic())

    @task
    def new_question(self) -> None:
        shape = _state.get("capacity")
        if isinstance(shape, SpecShape) and shape.rate > 0 and self.pacer.due():
            self.ask(only_new=True)


class SpecShape(LoadTestShape):
    """LOAD_SHAPE=spec|smoke|stress|capacity, LOAD_SCALE (time factor), LOAD_PEAK_USERS (100)."""

    def __init__(self) -> None:
        super().__init__()
        params = ShapeParams.from_env()
        self.capacity = params.profile == "capacity"
        self.stages = [] if self.capacity else params.stages()
        self.plan = CapacityPlan.scaled(params.scale, params.peak_users)
        self.schedule = Schedule(self.plan)
        self.rate = 0.0
        self.hold_stopped = False
        _state["capacity"] = self

    def tick(self) -> tuple[int, float] | tuple[int, float, list[type[User]] | None] | None:
        if not self.capacity:
            return target_at(self.stages, self.get_run_time())
        elapsed = self.get_run_time()
        self.schedule.wait_for(elapsed, NewQuestionUser.signed_in)
        self.schedule.advance(elapsed, _requests)
        phase, users, self.rate = self.schedule.phase(elapsed)
        if OUT_DIR is not None:
            (OUT_DIR / "steps.json").write_text(json.dumps(self.schedule.to_json()))
        if phase == "done":
            return None
        if phase == "hold":
            return users, users / self.plan.ramp_seconds, [CapacityUser]
        if not self.hold_stopped:
            # Locust doesn't swap one user class for another at the same count (the running
            # users just stay), so the hold's users are stopped first, then the step users start.
            self.hold_stopped = True
            return 0, 1000.0, [CapacityUser]
        return users, 10.0, [NewQuestionUser]
