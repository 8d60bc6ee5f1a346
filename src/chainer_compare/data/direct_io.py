"""Writing the data stage's big outputs around the page cache (``O_DIRECT``).

A buffered ``write()`` copies every byte into page-cache pages the kernel
must first find and clear; on a VM whose free memory goes back to the host
(virtio-balloon free page reporting, as on the 2-core machine of
docs/data.md) each of those pages is also faulted in from the host: measured
there, 2.5 s of CPU to write one 737 MB pickle buffered against 0.05 s of CPU
(and 0.6 s of disk) with ``O_DIRECT``.  The data stage writes ~3 GB, and
nothing reads it back until training, so skipping the cache costs nothing.

``O_DIRECT`` wants block-aligned memory, offsets and lengths: bytes go through
one page-aligned bounce buffer, the last block is padded with zeros and the
file is then truncated to its real size.  A file system that refuses
``O_DIRECT`` (tmpfs, some network mounts) gets ordinary buffered writes, as
does everything when ``CHAINER_COMPARE_DIRECT_IO=0``.
"""
import errno
import fcntl
import mmap
import os

BLOCK = 4096  # covers the 512-byte and 4 KiB logical blocks of Linux devices
BUFFER_BYTES = 8 << 20  # big enough that each write() is one large device request
SWITCH = 'CHAINER_COMPARE_DIRECT_IO'


def enabled():
    """False when the user turned direct I/O off (``CHAINER_COMPARE_DIRECT_IO=0``)."""
    return os.environ.get(SWITCH, '1') != '0'


class DirectWriter:
    """A write-only file object over ``fd`` that bypasses the page cache when it
    can.  ``close()`` (or leaving the ``with``) writes the tail and trims the
    padding; it does not fsync or close ``fd``: the caller owns both."""

    def __init__(self, fd):
        self.fd, self.size, self.pos, self.flushed = fd, 0, 0, 0
        self.direct = enabled() and _set_direct(fd, True)
        self.buffer = mmap.mmap(-1, BUFFER_BYTES) if self.direct else None
        self.view = memoryview(self.buffer) if self.direct else None

    def write(self, data):
        data = memoryview(data).cast('B')
        if self.view is None:
            _write_all(self.fd, data)
        else:
            done = 0
            while done < len(data):
                take = min(len(data) - done, BUFFER_BYTES - self.pos)
                self.view[self.pos:self.pos + take] = data[done:done + take]
                self.pos, done = self.pos + take, done + take
                if self.pos == BUFFER_BYTES:
                    self._flush_blocks(BUFFER_BYTES)
        self.size += len(data)
        return len(data)

    def close(self):
        if self.view is not None and self.pos:
            if self.direct:
                padded = -(-self.pos // BLOCK) * BLOCK
                self.view[self.pos:padded] = bytes(padded - self.pos)
                self._flush_blocks(padded)
                os.ftruncate(self.fd, self.size)
            else:  # direct I/O was refused on the way
                _write_all(self.fd, self.view[:self.pos])
        if self.view is not None:
            self.view.release()
            self.buffer.close()
            self.view = self.buffer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _flush_blocks(self, length):
        try:
            _write_all(self.fd, self.view[:length])
        except OSError as e:
            # Some file systems accept the flag and refuse the write: nothing
            # reached the file if this was the first block, so go on buffered.
            if e.errno != errno.EINVAL or self.flushed:
                raise
            _set_direct(self.fd, False)
            self.direct = False
            _write_all(self.fd, self.view[:self.pos])
        self.flushed += length
        self.pos = 0


def _set_direct(fd, on):
    """Turn ``O_DIRECT`` on or off for ``fd``; False where it is not supported."""
    flag = getattr(os, 'O_DIRECT', 0)
    if not flag:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | flag) if on else (flags & ~flag))
    except OSError:
        return False
    return on


def _write_all(fd, view):
    while len(view):
        written = os.write(fd, view)
        view = view[written:]
