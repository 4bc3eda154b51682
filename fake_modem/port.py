"""The modem's end of a pseudo-terminal and the stable link path clients open (like /dev/serial/by-id)."""

from __future__ import annotations

import os
import tty


class PtyPort:
    """Owns a pty pair: the master (the modem writes and reads it) and one slave fd, held open so that the
    master does not see a hang-up each time a client closes the port. `close()` is the unplug."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        os.set_blocking(self.master_fd, False)
        self.device = os.ttyname(self._slave_fd)
        self._point_link()

    def _point_link(self) -> None:
        parent = os.path.dirname(os.path.abspath(self.link))
        os.makedirs(parent, exist_ok=True)
        tmp = f"{self.link}.{os.getpid()}.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.device, tmp)
        os.replace(tmp, self.link)          # atomic: a client never sees the link missing

    def close(self) -> None:
        """Close both fds; clients reading the slave get an I/O error. The link is left dangling, at a path that
        never exists: left at the freed /dev/pts/N, it would lead a client that reconnects to whichever pty the
        kernel hands out next under that number (another test's modem, in another process)."""
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master_fd = self._slave_fd = -1
        try:
            if os.readlink(self.link) == self.device:
                tmp = f"{self.link}.{os.getpid()}.tmp"
                os.symlink(self._unplugged, tmp)
                os.replace(tmp, self.link)
        except OSError:
            pass

    @property
    def _unplugged(self) -> str:
        return f"{os.path.abspath(self.link)}.unplugged"

    def remove_link(self) -> None:
        """Remove the link if it still points at this port's device (or at nothing, since it was closed)."""
        try:
            if os.readlink(self.link) in (self.device, self._unplugged):
                os.unlink(self.link)
        except OSError:
            pass
