"""Ask a DVC remote once whether it answers, through DVC's own connection code.

DVC reports a remote that is down, that refuses your credentials or whose
base folder is missing once for every file it tried to move: dozens of lines.
`check` asks once, with DVC's settings (`.dvc/config`, and `.dvc/config.local`
for credentials), and says in one line what is wrong and how to fix it.
"""

from __future__ import annotations

from stages.common.cli import UserError

FIXES = {
    "refused": "is the server up, and are the host and port in .dvc/config right?",
    "credentials": "check the credentials in .dvc/config.local (keyfile, user, password)",
}


def _problem(error: Exception) -> str:
    """What went wrong, in words, from the exception DVC's filesystem raised."""
    text = f"{type(error).__name__}: {error}"
    lowered = text.lower()
    if any(word in lowered for word in ("permissiondenied", "permission denied", "401",
                                        "403", "unauthorized", "forbidden", "auth")):
        return f"the server refused the credentials ({error}); {FIXES['credentials']}"
    if any(word in lowered for word in ("refused", "connect", "timed out", "timeout",
                                        "name or service", "unreachable", "errno 111")):
        return f"cannot connect ({error}); {FIXES['refused']}"
    return text


def check(name: str | None = None) -> str:
    """Raise UserError unless the remote answers; return its description."""
    from dvc.config import NoRemoteError, RemoteConfigError
    from dvc.repo import Repo

    with Repo() as repo:
        try:
            remote = repo.cloud.get_remote(name)
        except NoRemoteError:
            raise UserError("no DVC remote is configured: `dvc remote add -d storage <url>` "
                            "(README: Working as a team)") from None
        except RemoteConfigError as error:
            raise UserError(f"DVC remote {name!r}: {error}") from None
        where = f"DVC remote {remote.name!r} ({repo.config['remote'][remote.name]['url']})"
        try:
            remote.fs.info(remote.path)  # unlike exists(), lets connection errors through
            exists = True
        except FileNotFoundError:
            exists = False
        except Exception as error:  # each filesystem raises its own kinds
            raise UserError(f"{where}: {_problem(error)}") from None
        if not exists and remote.fs.protocol in ("webdav", "webdavs", "dav", "davs"):
            raise UserError(f"{where}: the base folder does not exist on the server; create "
                            "it there first (WebDAV cannot create it: every upload fails "
                            "with 409 Conflict)")
        return f"{where} answers{'' if exists else '; DVC will create the folder'}"
