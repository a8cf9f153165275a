"""`ledger identity rotate-master-key`: re-wrap every citizen's key under a new master key.

After it, the old master key can be destroyed; backups of the database taken before then (and an
erased citizen's wrapped key in them) are then useless without it. The procedure, with backups, is
in ADR 0015.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli import fail, user_errors
from ledger.cli import root as app

identity = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The identity store's master key.")
app.add_typer(identity, name="identity")


@identity.command("rotate-master-key")
@user_errors
def rotate_master_key(
    new_key_file: Annotated[Path | None, typer.Option(
        "--new-key-file", help="write the new master key to this new file (default: replace the current key file)")] = None,
) -> None:
    """Generate a new master key, re-wrap every live citizen key under it in one transaction, and
    (when the current key is a file and no --new-key-file is given) replace that file, which
    destroys the old key."""
    from ledger.application import Ledger
    from ledger.identity.master import LocalMasterKey, default_key_file, load_master_key, write_key_file
    from ledger.settings import Settings

    settings = Settings.from_env()
    if settings.master_key and new_key_file is None:
        fail("the master key comes from LEDGER_MASTER_KEY: give --new-key-file for the new one")
    current_file = None if settings.master_key else Path(settings.master_key_file or default_key_file(settings.database_url))
    if new_key_file is not None and new_key_file.exists():
        fail(f"--new-key-file {new_key_file} exists; give a new file name")
    ledger = Ledger(settings)
    try:
        old = load_master_key(settings)
        new, text = LocalMasterKey.generate()
        target = new_key_file or Path(f"{current_file}.new")
        try:
            write_key_file(target, text)
        except FileExistsError:
            fail(f"{target} exists (a rotation that stopped half-way?); see ADR 0015 before removing it")
        try:
            count = ledger.identity.rewrap(old, new)
        except BaseException:
            target.unlink(missing_ok=True)  # nothing was re-wrapped: the old key still holds
            raise
        if new_key_file is None:
            assert current_file is not None
            os.replace(target, current_file)  # the old key is overwritten: destroyed here
            typer.echo(f"re-wrapped {count} citizen key(s) under master key {new.key_id}; {current_file} now holds "
                       f"it and the old master key {old.key_id} is destroyed.")
        else:
            typer.echo(f"re-wrapped {count} citizen key(s) under master key {new.key_id}, written to {new_key_file}.\n"
                       f"Set LEDGER_MASTER_KEY_FILE={new_key_file} for every process, then destroy the old master key "
                       f"{old.key_id} and every copy of it.")
        typer.echo("Backups taken before now need the old master key: once it is destroyed, identities erased "
                   "before now cannot be read from them (ADR 0015).")
    finally:
        ledger.close()
