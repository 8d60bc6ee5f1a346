"""HTTP(S) download with a progress bar, resume, retries and MD5 checks.

Bytes go to ``<dest>.part``; an interrupted download (cut connection, Ctrl-C,
kill) leaves that file, and the next attempt asks the server for the rest with
a ``Range`` header.  Only a file whose MD5 matches is renamed to ``dest``, so
``dest`` is never a half-downloaded archive.
"""
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request

from chainer_compare.errors import UserError

_CHUNK = 1 << 20


def md5_of_file(path):
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


class _Progress:
    """A one-line progress bar on stderr (silent when ``quiet``)."""

    def __init__(self, label, total, done, quiet):
        self.label, self.total, self.done, self.quiet = label, total, done, quiet
        self.start, self.start_bytes, self.last = time.time(), done, 0.0

    def update(self, n):
        self.done += n
        now = time.time()
        if self.quiet or (now - self.last < 0.2 and self.done != self.total):
            return
        self.last = now
        rate = (self.done - self.start_bytes) / max(now - self.start, 1e-6) / 1e6
        if self.total:
            frac = self.done / self.total
            bar = '#' * int(30 * frac)
            text = '{:3.0f}% [{:30s}] {:.1f}/{:.1f} MB'.format(
                100 * frac, bar, self.done / 1e6, self.total / 1e6)
        else:
            text = '{:.1f} MB'.format(self.done / 1e6)
        sys.stderr.write('\r{} {} {:.1f} MB/s '.format(self.label, text, rate))
        sys.stderr.flush()

    def close(self):
        if not self.quiet:
            sys.stderr.write('\n')


class _Permanent(Exception):
    """An HTTP answer that retrying will not change (404, 403, ...)."""


def _fetch_once(url, part, quiet, timeout):
    """Append the missing bytes of ``url`` to ``part``; return when complete."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={'User-Agent': 'chainer-compare'})
    if have:
        request.add_header('Range', 'bytes={}-'.format(have))
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the part is complete
            return
        if e.code < 500 and e.code != 429:
            raise _Permanent('HTTP {} {}'.format(e.code, e.reason))
        raise
    with response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0  # server ignored Range: start over
        length = response.headers.get('Content-Length')
        total = have + int(length) if length is not None else None
        progress = _Progress(os.path.basename(part)[:-5], total, have, quiet)
        try:
            with open(part, 'ab' if resumed else 'wb') as out:
                for block in iter(lambda: response.read(_CHUNK), b''):
                    out.write(block)
                    progress.update(len(block))
        finally:
            progress.close()
        if total is not None and os.path.getsize(part) < total:
            raise http.client.IncompleteRead(b'', total - os.path.getsize(part))


def download(url, dest, md5=None, retries=3, quiet=False, timeout=60, backoff=1.0):
    """Download ``url`` to ``dest`` (resuming ``dest.part``) and check its MD5.

    Retries transient failures ``retries`` times with exponential backoff;
    raises UserError naming the URL when it gives up or the checksum differs.
    """
    part = dest + '.part'
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, quiet, timeout)
            break
        except _Permanent as e:
            raise UserError('{}: download failed ({})'.format(url, e))
        except (OSError, http.client.HTTPException) as e:
            if attempt == retries:
                raise UserError('{}: download failed after {} attempt(s) ({}: {})'.format(
                    url, attempt + 1, type(e).__name__, e))
            delay = backoff * 2 ** attempt
            if not quiet:
                print('{}: {}; retrying in {:.0f} s'.format(url, e, delay), file=sys.stderr)
            time.sleep(delay)
    if md5 is not None:
        actual = md5_of_file(part)
        if actual != md5:
            os.unlink(part)
            raise UserError('{}: downloaded file has MD5 {} but {} was expected; it was '
                            'deleted, try again or pass --archive'.format(url, actual, md5))
    os.replace(part, dest)
    return dest
