"""A real filesystem that a test can turn read-only and back: FUSE passthrough with a switch.

`python -m tests.support.switchfs SOURCE MOUNTPOINT` mounts SOURCE at MOUNTPOINT through
libfuse 3 (mfusepy) and then obeys its standard input, one word a line: `ro` makes every
operation that would change the filesystem fail with EROFS, as the kernel does on a filesystem
remounted read-only (an open for writing included, so SQLite opens a new connection read-only);
`rw` lets them through again. Each word is answered on standard output (`ro` / `rw`) once it is
in force; `mounted` is printed when the kernel has the mount.

`SwitchableFilesystem` runs that process, waits for those answers (events, not sleeps), and
unmounts on exit. A remount with `mount -o remount,ro` is refused while SQLite holds the file
open for writing ("mount point is busy"), which is why the switch lives in the filesystem.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

ANSWER_SECONDS = 60.0
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND | os.O_CREAT


def unavailable_reason() -> str | None:
    """Why a FUSE mount cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "mounting FUSE needs root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if shutil.which("fusermount3") is None:
        return "fusermount3 missing (apt-get install fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as error:  # OSError: libfuse itself is missing
        return f"mfusepy unusable: {error}"
    return None


class SwitchableFilesystem:
    """SOURCE seen through MOUNTPOINT, read-write until `read_only()`, again after `writable()`."""

    def __init__(self, source: Path, mountpoint: Path) -> None:
        self.source = source
        self.mountpoint = mountpoint
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SwitchableFilesystem:
        self.source.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.switchfs",
                str(self.source),
                str(self.mountpoint),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        self._expect("mounted")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()  # the filesystem unmounts itself once its input closes
        try:
            process.wait(timeout=ANSWER_SECONDS)
        except subprocess.TimeoutExpired:
            subprocess.run(
                ["fusermount3", "-u", "-z", str(self.mountpoint)], check=False, capture_output=True
            )
            process.kill()
            process.wait()
        process.stdout.close()

    def read_only(self) -> None:
        """From now on every change fails with EROFS."""
        self._say("ro")

    def writable(self) -> None:
        """From now on changes go through again."""
        self._say("rw")

    def _say(self, word: str) -> None:
        process = self._process
        assert process is not None
        assert process.stdin is not None
        process.stdin.write(word + "\n")
        process.stdin.flush()
        self._expect(word)

    def _expect(self, word: str) -> None:
        process = self._process
        assert process is not None
        stdout = process.stdout
        assert stdout is not None
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(stdout.readline().strip()))
        reader.start()
        reader.join(ANSWER_SECONDS)
        if got != [word]:
            raise RuntimeError(f"switchfs answered {got!r}, not {word!r} (exit {process.poll()})")


def _operations(source: str, state: dict[str, bool]) -> Any:
    """The passthrough operations; every change is refused while state['ro'] is set."""
    from mfusepy import FuseOSError, Operations

    def real(path: str) -> str:
        return os.path.join(source, path.lstrip("/"))

    def changing() -> None:
        if state["ro"]:
            raise FuseOSError(errno.EROFS)

    class Passthrough(Operations):  # type: ignore[misc]
        use_ns = True

        def init(self, path: str) -> None:
            print("mounted", flush=True)

        def access(self, path: str, amode: int) -> int:
            if amode & os.W_OK:
                changing()
            if not os.access(real(path), amode):
                raise FuseOSError(errno.EACCES)
            return 0

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            st = os.lstat(real(path))
            keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
            attrs: dict[str, Any] = {key: getattr(st, key) for key in keys}
            for key in ("st_atime", "st_mtime", "st_ctime"):
                attrs[key] = getattr(st, key + "_ns")
            return attrs

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", *os.listdir(real(path))]

        def readlink(self, path: str) -> str:
            return os.readlink(real(path))

        def statfs(self, path: str) -> dict[str, int]:
            stv = os.statvfs(real(path))
            keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree")
            more = ("f_files", "f_flag", "f_frsize", "f_namemax")
            return {key: getattr(stv, key) for key in (*keys, *more)}

        def open(self, path: str, flags: int) -> int:
            if flags & _WRITE_FLAGS:
                changing()
            return os.open(real(path), flags)

        def create(self, path: str, mode: int, flags: int = os.O_RDWR) -> int:
            changing()
            return os.open(real(path), flags | os.O_CREAT, mode)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            return os.pread(fh, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            changing()
            return os.pwrite(fh, data, offset)

        def truncate(self, path: str, length: int, fh: int | None = None) -> int:
            changing()
            if fh is None:
                os.truncate(real(path), length)
            else:
                os.ftruncate(fh, length)
            return 0

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            changing()
            (os.fdatasync if datasync else os.fsync)(fh)
            return 0

        def flush(self, path: str, fh: int) -> int:
            return 0

        def release(self, path: str, fh: int) -> int:
            os.close(fh)
            return 0

        def unlink(self, path: str) -> int:
            changing()
            os.unlink(real(path))
            return 0

        def mkdir(self, path: str, mode: int) -> int:
            changing()
            os.mkdir(real(path), mode)
            return 0

        def rmdir(self, path: str) -> int:
            changing()
            os.rmdir(real(path))
            return 0

        def rename(self, old: str, new: str) -> int:
            changing()
            os.rename(real(old), real(new))
            return 0

        def chmod(self, path: str, mode: int) -> int:
            changing()
            os.chmod(real(path), mode)
            return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            changing()
            os.chown(real(path), uid, gid)
            return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            changing()
            if times is None:
                os.utime(real(path))
            else:
                os.utime(real(path), ns=times)
            return 0

    return Passthrough()


def main(source: str, mountpoint: str) -> None:
    """Mount, obey standard input until it closes, unmount."""
    from mfusepy import FUSE

    state = {"ro": False}

    def obey() -> None:
        for line in sys.stdin:
            word = line.strip()
            if word in ("ro", "rw"):
                state["ro"] = word == "ro"
                print(word, flush=True)
        # Standard input closed: the test is done (or gone). Detach the mount, then stop the
        # loop the way libfuse's own signal handler does (a lazily detached mount would keep
        # the loop waiting until the kernel lets the superblock go).
        subprocess.run(["fusermount3", "-u", "-z", mountpoint], check=False, capture_output=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=obey, daemon=True).start()
    FUSE(_operations(source, state), mountpoint, foreground=True, fsname="switchfs")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
