"""Write uploaded certificates and keys where Caddy loads them from.

The renderer only names the files (it stays pure); the sync calls this
module before it applies a config. Files are named by the certificate's
fingerprint, so a replaced certificate gets new files and Caddy never reads
a half-written pair. The directory is 0700 and every file 0600, owned by
this process; the key text is never logged.
"""

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings

log = logging.getLogger("site_management.caddy.certfiles")
SUFFIXES = (".crt", ".key")


def directory():
    return Path(settings.CADDY_BASE_PATH) / "certificates"


def paths(fingerprint):
    """(certificate file, key file) for a certificate fingerprint."""
    folder = directory()
    return str(folder / f"{fingerprint}.crt"), str(folder / f"{fingerprint}.key")


def _ensure_directory():
    folder = directory()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir leaves an existing folder's mode alone (and the umask applies).
    os.chmod(folder, 0o700)
    return folder


def _write(path, text):
    """Write `text` to `path` atomically with mode 0600, unless it is there."""
    path = Path(path)
    data = text.encode()
    if path.exists() and path.read_bytes() == data and _private(path):
        return False
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:  # mkstemp makes it 0600
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def _private(path):
    status = path.stat()
    return status.st_mode & 0o777 == 0o600 and status.st_uid == os.getuid()


def write_certificates(certificates):
    """Write the files of these Certificate rows; returns how many changed."""
    _ensure_directory()
    written = 0
    for cert in certificates:
        cert_file, key_file = paths(cert.fingerprint_sha256)
        written += _write(cert_file, cert.certificate + cert.chain)
        written += _write(key_file, cert.private_key)
    if written:
        log.info("wrote certificate files count=%s dir=%s", written, directory())
    return written


def prune(keep_fingerprints):
    """Remove the files of certificates no spec uses any more."""
    folder = directory()
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if path.suffix in SUFFIXES and path.stem not in keep_fingerprints:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed unused certificate files count=%s", removed)
    return removed


def write_for_specs(specs):
    """Write the files every spec with a certificate needs; return the set of
    fingerprints in use, for prune()."""
    from site_management.models import Certificate

    used = {spec.certificate for spec in specs if spec.certificate}
    rows = Certificate.objects.filter(fingerprint_sha256__in=used)
    write_certificates(rows)
    return used
