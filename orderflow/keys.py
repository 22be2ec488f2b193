"""``orderflow keys``: a new key for the ring, and rotation of the stored rows onto the
current key."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from config.keyring import Keyring, KeyringError, new_key
from config.settings import Settings, keyring_from
from store.db import make_engine
from store.key_rotation import RotationReport, count_stale, rotate

console = Console()


def print_new_key(key_id: str) -> None:
    """The entry on stdout, the advice on stderr: ``> file`` keeps the entry alone."""
    Console(stderr=True).print(
        f"A new key {key_id!r}. Add it to ORDERFLOW_ENCRYPTION_KEYS on every process, keeping "
        "the others; once all of them run with it, make it ORDERFLOW_ENCRYPTION_KEY_ID "
        "(docs/operations.md#encryption-keys).\n",
        highlight=False,
    )
    print(f'"{key_id}": "{new_key()}"')


def run_rotation(settings: Settings, *, batch: int) -> int:
    """Reseal with the current key every row sealed with another; 0 once none is left."""
    keyring = keyring_from(settings)
    engine = make_engine(settings.database_url)
    try:
        stale = count_stale(engine, keyring)
        columns = (
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            tasks = {name: progress.add_task(name, total=rows) for name, rows in stale.items()}
            report = rotate(
                engine,
                keyring,
                batch=batch,
                progress=lambda name, rows: progress.advance(tasks[name], rows),
            )
        left = sum(count_stale(engine, keyring).values())
    except KeyringError as error:
        console.print(
            f"[red]{error}[/red]\nPut that key back in ORDERFLOW_ENCRYPTION_KEYS and run again: "
            "the rows done so far stay done."
        )
        return 1
    finally:
        engine.dispose()
    _summary(keyring, report, left)
    return 1 if left else 0


def _summary(keyring: Keyring, report: RotationReport, left: int) -> None:
    console.print(f"{sum(report.resealed.values())} rows resealed with key {keyring.current!r}")
    if report.changed_meanwhile:
        console.print(f"{report.changed_meanwhile} rows were rewritten by the application first")
    if left:
        # A process still sealing with the old key (not restarted with the new key ID yet).
        console.print(f"[yellow]{left} rows are under another key again: run once more[/yellow]")
        return
    console.print(
        "Every row is under the current key. Older keys still open the workflow payloads "
        "sealed with them: keep them in the ring until those workflows are gone "
        "(docs/operations.md#encryption-keys)."
    )
