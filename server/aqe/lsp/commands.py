"""Names of the server's commands that more than one feature uses: a feature offering another's
command imports its name from here, not from that feature's module (which would tie the two together
and, through the other features they use, into an import cycle)."""

from __future__ import annotations

GENERATE_TEST_COMMAND = "aqe.generateTest"
