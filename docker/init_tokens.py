"""The compose stack's first step: make a tokens file when there is none, so a fresh clone starts.

It writes `LEDGER_TOKENS_FILE` (default /run/ledger/tokens.json, a volume shared with the
service) holding the sha256 of one new administrator token for every municipality, and prints the
token once, here, in this step's log (`docker compose -f docker/compose.yaml logs tokens`). The
token itself is stored nowhere. A tokens file that is already there is kept as it is (mount your
own, or edit this one: docs/api.md); delete the volume to start over.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ledger.api.auth import dev_token, load_tokens, token_sha256


def main(path: str) -> int:
    target = Path(path)
    if target.exists():
        load_tokens(target)  # a broken file is reported now, not when the service starts
        print(f"keeping the tokens file {target} (delete the volume to make a new one)")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    token = dev_token().replace("dev-", "admin-", 1)
    tmp = target.with_name(target.name + ".partial")
    tmp.write_text(json.dumps({"tokens": [{"user": "admin", "role": "administrator", "municipalities": ["*"],
                                           "token_sha256": token_sha256(token)}]}, indent=2) + "\n")
    os.chmod(tmp, 0o644)  # the service runs as another user; the file holds hashes only
    os.replace(tmp, target)
    print(f"wrote {target}: one administrator token for every municipality, shown once:\n  {token}\n"
          f"  curl -H 'Authorization: Bearer {token}' http://127.0.0.1:8000/ready")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LEDGER_TOKENS_FILE",
                                                                          "/run/ledger/tokens.json")))
