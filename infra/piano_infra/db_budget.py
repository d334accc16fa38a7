"""How many PostgreSQL connections the fleet can open, checked against Supabase's pooler limit.

The service connects through Supabase's session pooler (IPv4 from Cloud NAT; LISTEN/NOTIFY and
prepared statements need a real session). In session mode every client connection holds one
server connection, and the pooler admits at most its configured *Pool Size* clients per
role+database; the next one waits and is refused after a timeout. So the worst case the fleet
can open must fit under that number, including a rollout's surge instances.
"""

from __future__ import annotations

from dataclasses import dataclass

# One ingestion worker (`python -m service.worker`) runs next to the API on every instance.
INGESTION_WORKERS_PER_INSTANCE = 1
# Connections outside the fleet that share the same limit.
RESERVED_CONNECTIONS: dict[str, int] = {
    "release migration job": 1,
    "weekly backup job": 1,
    "operator sessions (psql, runbooks)": 3,
}


@dataclass(frozen=True)
class ConnectionBudget:
    """Worst case: every process's pools full on every instance, at max scale, mid-rollout."""

    api_workers: int  # uvicorn worker processes per instance
    db_pool_max_size: int  # DB_POOL_MAX_SIZE: the app pool, per process
    queue_pool_max_size: int  # QUEUE_POOL_MAX_SIZE: the job queue's pool, per process
    max_replicas: int
    surge: int  # extra instances a rolling update adds (max_surge_fixed)
    limit: int  # Supabase session pooler Pool Size for the service's role

    @property
    def processes_per_instance(self) -> int:
        return self.api_workers + INGESTION_WORKERS_PER_INSTANCE

    @property
    def per_process(self) -> int:
        return self.db_pool_max_size + self.queue_pool_max_size

    @property
    def per_instance(self) -> int:
        return self.processes_per_instance * self.per_process

    @property
    def max_instances(self) -> int:
        return self.max_replicas + self.surge

    @property
    def reserved(self) -> int:
        return sum(RESERVED_CONNECTIONS.values())

    @property
    def total(self) -> int:
        return self.max_instances * self.per_instance + self.reserved

    def explain(self) -> str:
        return (
            f"({self.api_workers} API workers + {INGESTION_WORKERS_PER_INSTANCE} ingestion worker)"
            f" x (DB pool {self.db_pool_max_size} + queue pool {self.queue_pool_max_size})"
            f" x ({self.max_replicas} max replicas + {self.surge} surge)"
            f" + {self.reserved} reserved = {self.total}"
        )

    def check(self) -> None:
        if self.total > self.limit:
            raise ValueError(
                f"database connection budget {self.explain()} exceeds piano:supabasePoolSize "
                f"= {self.limit} (Supabase session pooler Pool Size). Lower piano:maxReplicas, "
                "piano:apiWorkers or piano:dbPoolMaxSize, or raise the Pool Size in Supabase "
                "(Database settings; bounded by the compute size's max_connections)"
            )
