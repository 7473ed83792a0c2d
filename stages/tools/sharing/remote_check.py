"""Ask a DVC remote once whether it answers, through DVC's own connection code.

DVC reports a remote that is down, that refuses your credentials or whose
base folder is missing once for every file it tried to move: dozens of lines.
`check` asks once, with DVC's settings (`.dvc/config`, and `.dvc/config.local`
for credentials), and says in one line what is wrong and how to fix it.
"""

from __future__ import annotations

import os
import re
import socket

from stages.common.cli import UserError

REFUSED = "is the server up, and are the host and port in .dvc/config right?"
CREDENTIALS = {  # by protocol: where each kind of remote takes its credentials
    "s3": "check access_key_id and secret_access_key in .dvc/config.local (or "
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile)",
}
CREDENTIALS_ELSEWHERE = "check the credentials in .dvc/config.local (keyfile, user, password)"
REFUSALS = re.compile(r"permissiondenied|permission denied|\b40[13]\b|unauthori[sz]ed|forbidden"
                      r"|auth|invalidaccesskeyid|signaturedoesnotmatch|accessdenied")
UNREACHABLE = re.compile(r"refused|connect|timed out|timeout|name or service|unreachable"
                         r"|errno 111")


def _unreachable(error: BaseException | None) -> bool:
    """Whether `error`, or what it was raised from, is a failure to reach the server."""
    while error is not None:
        if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        error = error.__cause__ or error.__context__
    return False


def _problem(error: Exception, protocol: str) -> str:
    """What went wrong, in words, from the exception DVC's filesystem raised. (The words
    are matched whole: a port such as 40121 is not an HTTP 401.)"""
    text = f"{type(error).__name__}: {error}"
    lowered = text.lower()
    fix = CREDENTIALS.get(protocol, CREDENTIALS_ELSEWHERE)
    if _unreachable(error):
        return f"cannot connect ({error}); {REFUSED}"
    if "nocredentialserror" in lowered:
        return f"no credentials were found ({error}); {fix}"
    if REFUSALS.search(lowered):
        return f"the server refused the credentials ({error}); {fix}"
    if UNREACHABLE.search(lowered):
        return f"cannot connect ({error}); {REFUSED}"
    return text


def check(name: str | None = None) -> str:
    """Raise UserError unless the remote answers; return its description."""
    from dvc.config import NoRemoteError, RemoteConfigError
    from dvc.repo import Repo

    os.environ.setdefault("AWS_MAX_ATTEMPTS", "2")  # one question: not botocore's 12 s of retries

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
        except FileNotFoundError as error:
            if "bucket does not exist" in str(error):  # S3's NoSuchBucket
                bucket = remote.path.split("/")[0]
                raise UserError(f"{where}: the bucket {bucket!r} does not exist; create it "
                                f"(`aws s3 mb s3://{bucket}`, or your store's console) or "
                                "correct the remote's url") from None
            exists = False
        except Exception as error:  # each filesystem raises its own kinds
            raise UserError(f"{where}: {_problem(error, remote.fs.protocol)}") from None
        if not exists and remote.fs.protocol in ("webdav", "webdavs", "dav", "davs"):
            raise UserError(f"{where}: the base folder does not exist on the server; create "
                            "it there first (WebDAV cannot create it: every upload fails "
                            "with 409 Conflict)")
        return f"{where} answers{'' if exists else '; DVC will create the folder'}"
