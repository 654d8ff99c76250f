"""The digest of every 64 KiB of a file, which tell a publish what a run changed.

Worked out in a process of its own: a publish hashes the whole warehouse (3 GB at ten million
order lines) while the weekly report renders on a thread, and in one process the two take turns
with Python's lock (1.98 s for 3 GB beside a busy Python thread, 0.58-0.80 s alone). A child
hashes on the other core. Run as `python -m dropscore.digests FD CHUNK_BYTES` with the open
file inherited as FD, it writes the digests to its standard output.
"""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
from pathlib import Path

import xxhash

# Fixed chunks from the start of the file, so nothing here depends on DuckDB's layout. 64 KiB:
# DuckDB writes blocks of 256 KiB after a 12 KiB header, so a changed block dirties at most
# five chunks; larger chunks would write more, smaller ones cost more calls to hash.
CHUNK_BYTES = 64 << 10
DIGEST_BYTES = 16  # xxh3-128: ~18 GB/s; 128 bits leave no chance of two chunks mistaken
_READ_BYTES = 256 * CHUNK_BYTES


def chunk_digests(source: int) -> bytes:
    """The xxh3-128 digest of every CHUNK_BYTES of the open file, one after the other.

    From a child process when one can be started and hands back a digest for every chunk;
    otherwise (no interpreter to start, one without xxhash, a file that changed size) here.
    A wrong digest would leave a stale chunk in the next build file, so the child is given the
    chunk size and runs this very module: `-P` keeps the working directory off its path, and
    the folder this `dropscore` was imported from goes first on it."""
    expected = digests_length(os.fstat(source).st_size)
    if sys.executable:
        package_parent = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
        try:
            child = subprocess.run(
                [sys.executable, "-P", "-m", __name__, str(source), str(CHUNK_BYTES)],
                pass_fds=(source,),
                capture_output=True,
                env={**os.environ, "PYTHONPATH": path},
            )
        except OSError:  # no process to be had
            pass
        else:
            if child.returncode == 0 and len(child.stdout) == expected:
                return child.stdout
    return digests_here(source)


def digests_length(file_size: int) -> int:
    """How many bytes of digests a file of `file_size` bytes has: one per chunk, the last
    chunk perhaps short."""
    return -(-file_size // CHUNK_BYTES) * DIGEST_BYTES


def digests_here(source: int, chunk_bytes: int = CHUNK_BYTES) -> bytes:
    """`chunk_digests`, in this process. Read, not mapped: a file cut short while it is read
    ends the digests early instead of killing the process."""
    digests = []
    with mmap.mmap(-1, _READ_BYTES) as buffer, memoryview(buffer) as view:
        offset = 0
        while read := read_fully(source, view, offset):
            digests += (
                xxhash.xxh3_128_digest(view[start : min(read, start + chunk_bytes)])
                for start in range(0, read, chunk_bytes)
            )
            offset += read
    return b"".join(digests)


def read_fully(source: int, view: memoryview, offset: int) -> int:
    """Fill `view` from the open file at `offset`, short only at its end; how much was read.
    One read can return less than asked (a network file system, a signal), and every chunk
    hashed, or block copied, must start at its own offset."""
    read = 0
    while read < len(view):
        got = os.preadv(source, [view[read:]], offset + read)
        if not got:
            break
        read += got
    return read


if __name__ == "__main__":
    source, chunk_bytes = map(int, sys.argv[1:3])
    if _READ_BYTES % chunk_bytes:
        sys.exit(f"chunks of {chunk_bytes} bytes do not divide a read of {_READ_BYTES}")
    sys.stdout.buffer.write(digests_here(source, chunk_bytes))
