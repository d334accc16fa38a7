"""Parsers that misbehave, importable by the parser processes the tests start."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def hang(seconds: float, pid_file: str) -> str:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    return "finished"


def crash() -> str:
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


def echo(value: str) -> str:
    return value
